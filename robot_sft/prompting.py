"""The prompt the model sees, and where its answer ends: the same in training, evaluation
and on the robot.

The end of an answer is one notion, read off the chat template: `end_of_turn` is the text
the template writes after an assistant answer (training keeps it in the loss, so the
model learns to stop; batched generation cuts there), and `end_of_turn_ids` are the
token ids decoding stops on (eos, and that text when it is one token). Pure: a
tokenizer is only asked to render and encode.
"""
from __future__ import annotations

from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT

# Probe conversation for end_of_turn(): the text a template writes right after this answer.
_PROBE_ANSWER = "Probe answer 7f3c."
_PROBE = [{"role": "user", "content": "Probe command."},
          {"role": "assistant", "content": _PROBE_ANSWER}]


class ChatTemplateError(ValueError):
    """An unknown template name, or a template that cannot be used; the message says what to do."""


def build_messages(command: str, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[dict]:
    """System prompt + one user command, in the `messages` format."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": command})
    return messages


def prompt_text(tokenizer, command: str, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> str:
    """The chat-templated prompt, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(build_messages(command, system_prompt),
                                         tokenize=False, add_generation_prompt=True)


def end_of_turn(tokenizer) -> str:
    """The text that closes an assistant turn ("<|im_end|>", "</s>", "<|eot_id|>", ...),
    read off the tokenizer's current chat template by rendering a probe answer."""
    text = tokenizer.apply_chat_template(_PROBE, tokenize=False)
    at = text.rfind(_PROBE_ANSWER)
    if at < 0:
        raise ChatTemplateError("the chat template does not write the assistant's content verbatim, "
                                "so its turns cannot be located for masking")
    marker = text[at + len(_PROBE_ANSWER):].strip()
    if not marker:
        raise ChatTemplateError(
            "the chat template writes nothing after an assistant answer: a model trained on it never "
            "learns to stop. Add an end-of-turn marker (e.g. eos_token) after assistant messages")
    return marker


def end_of_turn_ids(tokenizer) -> list[int]:
    """The token ids an answer ends on: eos, and `end_of_turn` when it is a single token
    (a marker the tokenizer splits into pieces is cut off as text instead)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    marker = tokenizer.encode(end_of_turn(tokenizer), add_special_tokens=False)
    if len(marker) == 1:
        ids.add(marker[0])
    return sorted(ids)

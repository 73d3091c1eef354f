"""Named chat templates, and the end-of-turn text each one closes an assistant turn with.

A chat template turns `messages` into the exact text the model reads. Training and
inference must use the same one: a model fine-tuned on ChatML but prompted with
Llama-2 `[INST]` markers (or the other way round) answers badly. The default,
"tokenizer", keeps the template shipped with the base model's tokenizer, which is
what that model was instruction-tuned on; the others are for base models whose
tokenizer has no template, or for experiments.

    chatml     <|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n...<|im_end|>   (SmolLM2, Qwen)
    llama2     <s>[INST] <<SYS>>\\n...\\n<</SYS>>\\n\\n... [/INST] answer </s>           (Llama-2-chat)
    llama3     <|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n...<|eot_id|>
    zephyr     <|user|>\\n...</s>\\n<|assistant|>\\n...</s>\\n            (TinyLlama-1.1B-Chat-v1.0)
    tokenizer  the tokenizer's own `chat_template` (default)
    "{% ... %}" any custom Jinja template string, or a path to a `.jinja` file

The texts are copied from the models' own `tokenizer_config.json` (llama3 writes
`<|begin_of_text|>` literally instead of `bos_token`, so it renders the same on any
tokenizer). Markers that are not special tokens of the tokenizer (e.g. `[INST]` or
`<|eot_id|>` on SmolLM2) are tokenized as ordinary text: it works, costs a few
tokens per turn, and the model has never seen them, so prefer the model's own.

Pure: no torch. A tokenizer is only asked to render (`apply_chat_template`).
"""
from __future__ import annotations

from pathlib import Path

from robot_sft.prompting import ChatTemplateError
from robot_sft.prompting import end_of_turn as template_end_of_turn

# ChatML as SmolLM2/Qwen write it, without SmolLM2's injected default system prompt.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# meta-llama/Llama-2-7b-chat-hf, without the default system prompt.
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)

# meta-llama/Meta-Llama-3-8B-Instruct, with bos_token spelled out.
LLAMA3 = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = '<|begin_of_text|>' + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

# TinyLlama/TinyLlama-1.1B-Chat-v1.0 (= HuggingFaceH4/zephyr-7b-beta), verbatim. Rendered with
# trim_blocks, so only the newlines after `}}` survive: "<|user|>\n...</s>\n<|assistant|>\n".
ZEPHYR = (
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}"
)

TOKENIZER_TEMPLATE = "tokenizer"
TEMPLATES = {"chatml": CHATML, "llama2": LLAMA2, "llama3": LLAMA3, "zephyr": ZEPHYR}
TEMPLATE_NAMES = (*TEMPLATES, TOKENIZER_TEMPLATE)

# End-of-turn text of the named templates that do not take it from the tokenizer's eos_token.
_LITERAL_END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>"}


def is_jinja(text: str) -> bool:
    return "{%" in text or "{{" in text


def _choices() -> str:
    return ", ".join(TEMPLATE_NAMES) + ", a Jinja template string or a path to a .jinja file"


def resolve_chat_template(name_or_jinja: str | None = TOKENIZER_TEMPLATE, tokenizer=None) -> str:
    """The Jinja source for a template name, a custom template string or a `.jinja` file.

    "tokenizer" (or None) needs `tokenizer` and returns its own template.
    """
    choice = TOKENIZER_TEMPLATE if name_or_jinja is None else str(name_or_jinja)
    if is_jinja(choice):
        return choice
    key = choice.strip().lower()
    if key in TEMPLATES:
        return TEMPLATES[key]
    if key == TOKENIZER_TEMPLATE:
        return _tokenizer_template(tokenizer)
    if key.endswith(".jinja"):
        path = Path(choice.strip()).expanduser()
        if not path.is_file():
            raise ChatTemplateError(f"chat template file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        if not is_jinja(text):
            raise ChatTemplateError(f"{path} holds no Jinja template ({{% ... %}} or {{{{ ... }}}})")
        return text
    raise ChatTemplateError(f"unknown chat template {choice!r}: choose one of {_choices()}")


def _tokenizer_template(tokenizer) -> str:
    if tokenizer is None:
        raise ChatTemplateError("chat template 'tokenizer' needs the tokenizer whose template to keep")
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # several named templates: the default one is for chat
        template = template.get("default")
    if not template:
        raise ChatTemplateError(
            f"the tokenizer ({getattr(tokenizer, 'name_or_path', '') or type(tokenizer).__name__}) has no "
            f"chat template of its own: pick one of {', '.join(TEMPLATES)} or pass a Jinja template")
    return template


def apply_chat_template_choice(tokenizer, name_or_jinja: str | None = TOKENIZER_TEMPLATE):
    """Set `tokenizer.chat_template` to the chosen template (in place) and return the tokenizer.

    Saving the tokenizer with the adapter then carries the template to inference.
    """
    tokenizer.chat_template = resolve_chat_template(name_or_jinja, tokenizer)
    return tokenizer


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The conversation as text, with the tokenizer's current chat template."""
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def end_of_turn(tokenizer_or_template) -> str:
    """The text that closes an assistant turn: "<|im_end|>", "</s>", "<|eot_id|>", ...

    The masking step keeps it in the loss (so the model learns to stop) and
    generation stops on it. Given a tokenizer, it is read off the tokenizer's
    current template (robot_sft.prompting.end_of_turn, the robot's own notion); given a
    name, only templates whose marker does not depend on the tokenizer's eos_token can answer.
    """
    if isinstance(tokenizer_or_template, str):
        choice = tokenizer_or_template.strip().lower()
        if choice in _LITERAL_END_OF_TURN:
            return _LITERAL_END_OF_TURN[choice]
        raise ChatTemplateError(
            f"the end of turn of {tokenizer_or_template[:40]!r} depends on the tokenizer (its eos_token): "
            "pass the tokenizer with that template applied")
    return template_end_of_turn(tokenizer_or_template)


def end_of_turn_token_id(tokenizer) -> int | None:
    """The token id of the end-of-turn marker when it is a single token (use it as a
    generation eos id), else None (stop on the end_of_turn() text instead)."""
    ids = tokenizer.encode(end_of_turn(tokenizer), add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None

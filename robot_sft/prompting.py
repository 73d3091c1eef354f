"""The prompt the model sees: the same in training, evaluation and on the robot."""
from __future__ import annotations

from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT


def build_messages(command: str, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[dict]:
    """System prompt + one user command, in the `messages` format."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": command})
    return messages


def prompt_text(tokenizer, command: str, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> str:
    """The chat-templated prompt, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(build_messages(command, system_prompt),
                                         tokenize=False, add_generation_prompt=True)

"""Batched greedy generation of answers to robot commands (evaluation, demos).

Prompts are built by robot_sft.prompting, exactly as the robot node builds them.
Batches are left-padded (a decoder-only model continues from the last position,
so padding must come before the prompt) and sorted by length so a batch wastes
little padding. Generation stops at the chat template's end-of-turn token.
"""
from __future__ import annotations

from robot_sft.prompting import end_of_turn, end_of_turn_ids, prompt_text
from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT


def cut_at_end_of_turn(text: str, marker: str) -> str:
    """The answer before the end-of-turn marker (when it is several tokens, the
    model may write it and go on)."""
    at = text.find(marker)
    return (text if at < 0 else text[:at]).strip()


def generate_responses(model, tokenizer, commands: list[str],
                       system_prompt: str = DEFAULT_SYSTEM_PROMPT, batch_size: int = 32,
                       max_new_tokens: int = 64, progress: bool = False) -> list[str]:
    """Greedy answers to `commands`, in the same order."""
    import torch

    prompts = [prompt_text(tokenizer, command, system_prompt) for command in commands]
    # Templates write bos/eos themselves: add no special tokens.
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = end_of_turn_ids(tokenizer)  # the ids the robot stops on
    marker = end_of_turn(tokenizer)
    device = next(model.parameters()).device
    answers: list[str] = [""] * len(prompts)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="Generating", unit="batch")
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            longest = max(len(encoded[i]) for i in batch)
            input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), longest), dtype=torch.long)
            for row, i in enumerate(batch):  # left padding
                n = len(encoded[i])
                input_ids[row, longest - n:] = torch.tensor(encoded[i])
                attention_mask[row, longest - n:] = 1
            with torch.inference_mode():
                output = model.generate(input_ids=input_ids.to(device),
                                        attention_mask=attention_mask.to(device),
                                        max_new_tokens=max_new_tokens, do_sample=False,
                                        eos_token_id=stops, pad_token_id=pad_id)
            for row, i in enumerate(batch):
                text = tokenizer.decode(output[row, longest:], skip_special_tokens=True)
                answers[i] = cut_at_end_of_turn(text, marker)
    finally:
        model.train(was_training)
    return answers

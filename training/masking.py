"""Assistant-only loss: tokenize chat conversations with labels on the assistant's tokens only.

Why not TRL's own `assistant_only_loss=True`? It needs `{% generation %}` markers in the
chat template, which SmolLM2's, Llama-2's and TinyLlama's templates do not have. This
works with any template whose turns render as prefixes of each other:

1. render the whole conversation once and tokenize it with character offsets;
2. for each assistant message i, render messages[:i] + generation prompt and
   messages[:i+1]; the text between them is what the model writes for that turn: its
   content and the end-of-turn marker ("<|im_end|>", "</s>", "<|eot_id|>") are learned;
   the header ("<|im_start|>assistant\\n", part of the prompt) and the separator after
   the marker are not (the model never generates them);
3. a token is a label when its characters overlap an assistant span. A token that
   straddles the end of a marker written as plain text (e.g. "|><" of
   "<|eot_id|><|start_header_id|>" on a tokenizer without those special tokens) is
   kept: the model has to produce it to finish the marker.

The end-of-turn marker is in the loss on purpose: it is how the model learns to stop,
and SmolLM2's pad token is that same <|im_end|>, so padding is recognised by position,
never by token id (AssistantOnlyCollator).

Plugging into TRL 1.16 `SFTTrainer` (checked against trl/trainer/sft_trainer.py):

    rows, stats = tokenize_dataset(conversations, tokenizer, max_length=cfg.max_length)
    trainer = SFTTrainer(
        model=model, processing_class=tokenizer,
        train_dataset=to_sft_dataset(rows),              # columns: input_ids, labels
        data_collator=AssistantOnlyCollator(tokenizer),  # or None: TRL's collator pads the same way
        args=SFTConfig(
            ...,
            max_length=cfg.max_length,                       # same as above (documents it)
            dataset_kwargs={"skip_prepare_dataset": True},
            assistant_only_loss=False,                       # default; needs {% generation %}
            packing=False, padding_free=False,               # defaults; padding-free refuses a collator
            bf16=False,                                      # on CPU: TRL 1.x defaults bf16 on
        ))

- A dataset with an `input_ids` column counts as processed: TRL does not re-tokenize it
  and leaves an existing `labels` column as is (it would only build labels from a
  `completion_mask` column when `completion_only_loss=True`, which defaults to off for a
  non prompt/completion dataset, i.e. full-sequence loss). Hence to_sft_dataset() ships
  `labels`, never a bare mask.
- `skip_prepare_dataset=True` makes TRL skip its preparation entirely (no second
  truncation, no silent `filter` of fully masked rows: tokenize_dataset already truncated
  and counted drops). Without it the result is the same, plus a few dataset.map passes.
- `remove_unused_columns=True` (default) keeps only input_ids/labels(/seq_lengths); both
  collators produce input_ids, attention_mask and labels, which is what the model gets.
- SFTTrainer.compute_loss uses `labels` (-100 ignored), normalised by the number of
  label tokens in the accumulated batch. `completion_only_loss` does not matter once
  `labels` exist.
- With `data_collator=None` TRL's DataCollatorForLanguageModeling pads exactly like
  AssistantOnlyCollator (by position, labels -100) and also copies the tokenizer's pad id
  into the model config; either is fine (test_masking checks both).

Pure except the collator (torch) and to_sft_dataset (datasets), imported inside.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from training.chat_templates import ChatTemplateError, end_of_turn, render

IGNORE_INDEX = -100  # labels with this value are left out of the loss (PyTorch/HF convention)


@dataclass
class MaskingStats:
    """What tokenize_dataset did; dropped rows are counted here, never silently."""

    kept: int = 0
    dropped_no_assistant: int = 0  # no assistant token left (none in the row, or truncated away)
    truncated: int = 0  # kept rows cut at max_length
    total_tokens: int = 0  # of kept rows
    assistant_tokens: int = 0  # labels kept (in the loss)

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        share = self.assistant_tokens / self.total_tokens if self.total_tokens else 0.0
        return (f"{self.kept} conversations kept, {self.dropped_no_assistant} dropped (no assistant tokens "
                f"within max_length), {self.truncated} truncated; {self.total_tokens} tokens, "
                f"{self.assistant_tokens} in the loss ({share:.0%})")


def assistant_spans(messages: list[dict], tokenizer, last_turn_only: bool = False
                    ) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the [start, end) character spans to learn:
    each assistant turn's content through its end-of-turn marker."""
    text = render(tokenizer, messages)
    marker = end_of_turn(tokenizer)
    turns = [i for i, message in enumerate(messages) if message.get("role") == "assistant"]
    if last_turn_only:
        turns = turns[-1:]
    spans = []
    for i in turns:
        if i == 0:
            raise ChatTemplateError("a conversation cannot start with an assistant message")
        before = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[:i + 1])
        if not (through.startswith(before) and text.startswith(through)):
            raise ChatTemplateError(
                f"the chat template renders message {i} differently depending on what follows, so "
                "assistant turns cannot be located by prefix; use another template")
        # Everything the model writes after the generation prompt, up to its end-of-turn marker
        # (whitespace before the content included: e.g. Llama-2's " answer </s>").
        generated = through[len(before):].rstrip()
        content = str(messages[i].get("content") or "").strip()
        body = generated.lstrip()
        if not body.startswith(content) or not body.endswith(marker) \
                or body[len(content):len(body) - len(marker)].strip():
            raise ChatTemplateError(
                f"assistant turn {i} renders as {generated[:60]!r}: expected its content then {marker!r} "
                "after the generation prompt; the template's generation prompt must end where the answer "
                "begins")
        spans.append((len(before), len(before) + len(generated)))
    return text, spans


def _encode(messages: list[dict], tokenizer, last_turn_only: bool) -> tuple[list[int], list[int]]:
    """Full-length token ids of the rendered conversation and the 0/1 loss mask."""
    if not getattr(tokenizer, "is_fast", False):
        raise ChatTemplateError("assistant masking needs a fast tokenizer (character offsets)")
    text, spans = assistant_spans(messages, tokenizer, last_turn_only)
    # The template already writes bos/eos where they belong: add no special tokens.
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(_in_spans(start, end, spans)) for start, end in encoding["offset_mapping"]]
    return list(encoding["input_ids"]), mask


def _in_spans(start: int, end: int, spans) -> bool:
    if start == end:  # a token with no characters of its own: inside if its position is
        return any(a <= start < b for a, b in spans)
    return any(start < b and end > a for a, b in spans)


def tokenize_conversation(messages: list[dict], tokenizer, max_length: int | None,
                          last_turn_only: bool = False, drop_unlabelled_tail: bool = False
                          ) -> dict | None:
    """{"input_ids", "labels" (-100 except assistant tokens), "completion_mask"} for one
    conversation, truncated to max_length (keeping the start, like TRL); None when no
    assistant token is left, which would contribute no loss.

    drop_unlabelled_tail: end the row at its last label. What follows it (the separator
    after the final end-of-turn marker, "\n" in ChatML) is in no loss and, the model being
    causal, changes no logit before it: a token of pure cost, about 1 in 36 of this
    project's rows."""
    encoded = _truncated(messages, tokenizer, max_length, last_turn_only, drop_unlabelled_tail)
    return encoded[0] if encoded else None


def _truncated(messages, tokenizer, max_length, last_turn_only, drop_unlabelled_tail=False):
    input_ids, mask = _encode(messages, tokenizer, last_turn_only)
    was_cut = max_length is not None and len(input_ids) > max_length
    if was_cut:
        input_ids, mask = input_ids[:max_length], mask[:max_length]
    if not any(mask):
        return None
    if drop_unlabelled_tail:
        end = len(mask) - mask[::-1].index(1)
        input_ids, mask = input_ids[:end], mask[:end]
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(input_ids, mask)]
    return {"input_ids": input_ids, "labels": labels, "completion_mask": mask}, was_cut


def tokenize_dataset(rows, tokenizer, max_length: int | None, last_turn_only: bool = False,
                     progress: bool = False, drop_unlabelled_tail: bool = False
                     ) -> tuple[list[dict], MaskingStats]:
    """tokenize_conversation over rows ({"messages": [...]} dicts or message lists).

    Rows left without assistant tokens are dropped and counted in the stats; a row the
    template cannot render raises, naming the row.
    """
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="Tokenizing conversations", unit="conv")
    stats, tokenized = MaskingStats(), []
    for index, row in enumerate(rows):
        messages = row["messages"] if isinstance(row, dict) else row
        try:
            encoded = _truncated(messages, tokenizer, max_length, last_turn_only, drop_unlabelled_tail)
        except Exception as exc:  # jinja errors (raise_exception) come as TemplateError
            raise ChatTemplateError(f"conversation {index}: {exc}") from exc
        if encoded is None:
            stats.dropped_no_assistant += 1
            continue
        example, was_cut = encoded
        tokenized.append(example)
        stats.kept += 1
        stats.truncated += was_cut
        stats.total_tokens += len(example["input_ids"])
        stats.assistant_tokens += sum(example["completion_mask"])
    return tokenized, stats


def to_sft_dataset(tokenized_rows: list[dict]):
    """A `datasets.Dataset` with `input_ids` and `labels`, which TRL's SFTTrainer takes as
    already processed (see the module docstring for the SFTConfig to pair it with)."""
    from datasets import Dataset

    return Dataset.from_dict({
        "input_ids": [row["input_ids"] for row in tokenized_rows],
        "labels": [row["labels"] for row in tokenized_rows],
    })


class AssistantOnlyCollator:
    """Right-pads a batch: input_ids with the pad id, attention_mask with 0, labels with -100.

    Padding is known by position (past each row's length), never by token id: SmolLM2's
    pad token is also its <|im_end|>, which must stay a label at the end of every answer.
    Rows need `labels`, or a `completion_mask` to build them from; other keys are dropped.
    """

    def __init__(self, tokenizer_or_pad_token_id, pad_to_multiple_of: int | None = None):
        pad = tokenizer_or_pad_token_id
        if not isinstance(pad, int):
            pad = pad.pad_token_id if pad.pad_token_id is not None else pad.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token to pad with")
        self.pad_token_id = pad
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict:
        import torch

        longest = max(len(feature["input_ids"]) for feature in features)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        shape = (len(features), longest)
        input_ids = torch.full(shape, self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros(shape, dtype=torch.long)
        labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
        for row, feature in enumerate(features):
            ids = list(feature["input_ids"])
            n = len(ids)
            input_ids[row, :n] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, :n] = 1
            labels[row, :n] = torch.tensor(_labels_of(feature, ids), dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _labels_of(feature: dict, ids: list[int]) -> list[int]:
    if feature.get("labels") is not None:
        labels = list(feature["labels"])
    elif feature.get("completion_mask") is not None:
        labels = [token if keep else IGNORE_INDEX for token, keep in zip(ids, feature["completion_mask"])]
    else:  # refusing beats silently training on the prompt too
        raise ValueError("each example needs 'labels' or 'completion_mask' for an assistant-only loss")
    if len(labels) != len(ids):
        raise ValueError(f"labels ({len(labels)}) and input_ids ({len(ids)}) differ in length")
    return labels

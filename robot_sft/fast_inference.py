"""Greedy decoding for the node, built for command-to-first-Twist latency on a CPU.

Three measured levers (benchmarks/latency.py has the figures):
- prefix cache: the system prompt is the same for every command, so its keys and
  values are computed once at load; a command only pays for its own tokens.
- a lean loop: one forward pass per token with the KV cache, argmax, stop on an
  end-of-turn id - none of generate()'s per-step machinery.
- line streaming: `stream_lines` hands over each line as soon as its newline is
  generated, so the node can start the first action while the rest is written
  (the response format puts one action on each line, executable part first).

Optional, changes the numbers the model computes: `quantize_int8` (dynamic int8
Linear layers, ~3x fewer bytes to read per token on CPU).
torch is imported inside functions: importing this module is cheap.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from robot_sft.inference import check_cancel
from robot_sft.prompting import prompt_text


@dataclass
class DecodeTimes:
    """Where one command's time went (perf_counter seconds), for benchmarks and logs."""
    prompt_tokens: int = 0       # tokens run through the model before the first new token
    reused_prefix: int = 0       # prompt tokens served from the prefix cache
    prefill_s: float = 0.0       # command tokens -> logits of the first new token
    token_s: list[float] = field(default_factory=list)  # one forward pass per new token
    stopped: bool = False        # ended on an end-of-turn token (not on the budget)

    @property
    def new_tokens(self) -> int:
        return len(self.token_s)


def prompt_head(tokenizer, system_prompt: str) -> str:
    """The text every prompt starts with, whatever the command (system turn and the
    user turn's opening)."""
    return os.path.commonprefix([prompt_text(tokenizer, c, system_prompt) for c in ("a", "b")])


class GreedyDecoder:
    """Greedy new tokens for a command, with the prompt head's KV cache reused.

    Not thread-safe on purpose: the node runs one generation at a time."""

    def __init__(self, model, tokenizer, system_prompt: str, stop_ids):
        self.model = model
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.stop_ids = frozenset(stop_ids)
        self.head_ids = self._encode(prompt_head(tokenizer, system_prompt))
        self._head_kv = self._prefill_head() if self.head_ids else None

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _new_cache(self, kv=None):
        from transformers import DynamicCache

        # update() concatenates into new tensors: the stored head is never modified.
        return DynamicCache(ddp_cache_data=kv, config=self.model.config)

    def _prefill_head(self):
        import torch

        cache = self._new_cache()
        with torch.inference_mode():
            self.model(input_ids=torch.tensor([self.head_ids], device=self.model.device),
                       cache=cache, use_cache=True, logits_to_keep=1)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def prompt_ids(self, command: str) -> tuple[list[int], int]:
        """The command's prompt ids and how many of them the prefix cache covers (0 when
        the tokenizer merged across the head's end, which a chat template can cause)."""
        ids = self._encode(prompt_text(self.tokenizer, command, self.system_prompt))
        n = len(self.head_ids)
        # Keep one token to run: the model must compute the logits of the first new token.
        reused = n if self._head_kv is not None and len(ids) > n and ids[:n] == self.head_ids else 0
        return ids, reused

    def tokens(self, command: str, max_new_tokens: int, cancel: threading.Event | None = None,
               times: DecodeTimes | None = None, logits_processor=None) -> Iterator[int]:
        """Yield new token ids until an end-of-turn id (not yielded) or the budget.
        Raises GenerationCancelled as soon as `cancel` is set. `logits_processor`: a
        transformers-style `(input_ids, scores) -> scores` callable (the response grammar)
        that sees the last token in input_ids[:, -1]."""
        import torch

        times = times if times is not None else DecodeTimes()
        ids, reused = self.prompt_ids(command)
        device = self.model.device
        started = time.perf_counter()
        cache = self._new_cache(self._head_kv if reused else None)
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids[reused:]], device=device),
                                cache=cache, use_cache=True, logits_to_keep=1).logits
        times.prompt_tokens, times.reused_prefix = len(ids) - reused, reused
        times.prefill_s = time.perf_counter() - started
        previous = ids[-1]
        for step in range(max_new_tokens):
            check_cancel(cancel)
            scores = logits[:, -1, :]
            if logits_processor is not None:
                scores = logits_processor(torch.tensor([[previous]]), scores.float().clone())
            token = previous = int(scores[0].argmax())
            if token in self.stop_ids:
                times.stopped = True
                return
            yield token
            if step + 1 == max_new_tokens:
                return  # no forward pass for a token that will never be read
            started = time.perf_counter()
            with torch.inference_mode():
                logits = self.model(input_ids=torch.tensor([[token]], device=device),
                                    cache=cache, use_cache=True).logits
            times.token_s.append(time.perf_counter() - started)

    def stream_lines(self, command: str, max_new_tokens: int,
                     cancel: threading.Event | None = None,
                     times: DecodeTimes | None = None, logits_processor=None) -> Iterator[str]:
        """The answer's text in pieces: each complete line with its '\\n' as soon as the
        newline is generated, then whatever follows the last newline (if anything).
        "".join(pieces) is the decoded answer."""
        new, emitted = [], 0
        for token in self.tokens(command, max_new_tokens, cancel, times, logits_processor):
            new.append(token)
            # Decode everything so far: a character split over tokens is whole once a
            # newline follows it, and the answer is a few dozen tokens.
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            end = text.rfind("\n") + 1
            if end > emitted:
                yield text[emitted:end]
                emitted = end
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        if len(text) > emitted:
            yield text[emitted:]


def quantize_int8(model):
    """Dynamic int8 for every Linear layer (weights int8, activations quantised per
    call), in place. On CPU a token then reads ~4x fewer weight bytes."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.ao's deprecation notice (moving to torchao)
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                      dtype=torch.qint8, inplace=True)

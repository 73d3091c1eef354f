"""Greedy decoding shared by the model backends, built for command-to-first-Twist latency.

Four measured levers (benchmarks/latency.py has the figures):
- prefix cache: the system prompt is the same for every command, so its keys and
  values are computed once at load; a command only pays for its own tokens.
- a lean loop: one forward pass per token with the KV cache, argmax, stop on an
  end-of-turn id - none of generate()'s per-step machinery.
- line streaming: `stream_lines` hands over each line as soon as its newline is
  generated, so the node can start the first action while the rest is written
  (the response format puts one action on each line, executable part first).
- forced tokens: under a grammar that leaves exactly one token (most of a grounded
  answer: in "Move forward 2 m." only "Move" and, after the ".", the end are choices), no logits are needed
  for it. The decoder takes it without a forward pass and runs the tokens waiting for
  the model in one pass when the next choice needs logits (`feed_many`), and stops
  without one when the grammar allows only the end of the answer.

`GreedyDecoder` is all of that, written once. A backend subclasses it with three
operations on its engine and nothing else:

    prefill_head()              evaluate self.head_ids once and keep their KV
    start(ids, reuse_head)      drop every KV but the head's (or all of it), evaluate ids,
                                return the last position's logits (a 1-D array or tensor)
    feed(token)                 append one token, return its logits
    feed_many(tokens)           (optional) append several, return the last one's logits

`DecodingModel` is the CommandModel on top of a decoder (budget, truncation, grammar,
timings, loading from an adapter directory), also written once for every backend.
Importing this module is cheap: torch only where a grammar's logits processor runs.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from robot_sft.adapter import AdapterError, read_metadata
from robot_sft.inference.base import AnswerTruncated, LineStreamModel, check_cancel
from robot_sft.prompting import prompt_text


@dataclass
class DecodeTimes:
    """Where one command's time went (perf_counter seconds), for benchmarks and logs."""
    prompt_tokens: int = 0       # tokens run through the model before the first new token
    reused_prefix: int = 0       # prompt tokens served from the prefix cache
    prefill_s: float = 0.0       # command tokens -> logits of the first new token
    token_s: list[float] = field(default_factory=list)  # each forward pass after the prompt
                                 # (one token, or the run of tokens a grammar forced)
    generated: int = 0           # new tokens of the answer (the end-of-turn not counted)
    fed_tokens: int = 0          # new tokens those passes ran through the model
    forced: int = 0              # new tokens the grammar forced (taken without logits)
    stopped: bool = False        # ended on an end-of-turn token, or before a line the grammar
                                 # forbids where the answer could end (not on the budget)
    min_probability: float = 1.0  # the least likely chosen token's probability (among the
                                  # tokens the grammar left): the answer's confidence
    meant_more: str | None = None  # where the answer ended before a line the grammar forbids:
                                   # the text of the token the model wanted to start it with

    @property
    def passes(self) -> int:
        return len(self.token_s)


def prompt_head(tokenizer, system_prompt: str) -> str:
    """The text every prompt starts with, whatever the command (system turn and the
    user turn's opening)."""
    return os.path.commonprefix([prompt_text(tokenizer, c, system_prompt) for c in ("a", "b")])


class GreedyDecoder:
    """Greedy new tokens for a command, with the prompt head's KV cache reused.

    Not thread-safe on purpose: the node runs one generation at a time."""

    max_context: int | None = None  # tokens the engine can hold (None: no limit)
    take_forced: bool = True  # False: a pass for every token, forced or not (tests compare)

    def __init__(self, tokenizer, system_prompt: str, stop_ids):
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.stop_ids = frozenset(stop_ids)
        self._newline_cache: dict[int, bool] = {}
        self.head_ids = self._encode(prompt_head(tokenizer, system_prompt))
        if self.head_ids:
            self.prefill_head()

    # ------------------------------------------------------- what a backend supplies
    def prefill_head(self) -> None:
        raise NotImplementedError

    def start(self, ids: list[int], reuse_head: bool):
        raise NotImplementedError

    def feed(self, token: int):
        raise NotImplementedError

    # ------------------------------------------------------------------- shared
    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, command: str) -> tuple[list[int], int]:
        """The command's prompt ids and how many of them the prefix cache covers (0 when
        the tokenizer merged across the head's end, which a chat template can cause)."""
        ids = self._encode(prompt_text(self.tokenizer, command, self.system_prompt))
        n = len(self.head_ids)
        # Keep one token to run: the model must compute the logits of the first new token.
        reused = n if self.head_ids and len(ids) > n and ids[:n] == self.head_ids else 0
        return ids, reused

    def tokens(self, command: str, max_new_tokens: int, cancel: threading.Event | None = None,
               times: DecodeTimes | None = None, logits_processor=None) -> Iterator[int]:
        """Yield new token ids until an end-of-turn id (not yielded) or the budget (or a
        full context). Raises GenerationCancelled as soon as `cancel` is set.
        `logits_processor`: a transformers-style `(input_ids, scores) -> scores` callable
        (the response grammar) that sees the last token in input_ids[:, -1]."""
        times = times if times is not None else DecodeTimes()
        ids, reused = self.prompt_ids(command)
        if self.max_context is not None and len(ids) >= self.max_context:
            raise ValueError(f"the prompt ({len(ids)} tokens) does not fit the model's "
                             f"context ({self.max_context} tokens)")
        started = time.perf_counter()
        logits = self.start(ids[reused:], reuse_head=reused > 0)
        times.prompt_tokens, times.reused_prefix = len(ids) - reused, reused
        times.prefill_s = time.perf_counter() - started
        allowed_of = getattr(logits_processor, "allowed", None)  # numpy masks: forced tokens
        previous, unfed = ids[-1], []  # unfed: chosen tokens the model has not run yet
        optional_line = False  # a newline was chosen where the answer could have ended
        for step in range(max_new_tokens):
            check_cancel(cancel)
            allowed = _flatnonzero(allowed_of(previous)) if allowed_of is not None else None
            if optional_line:
                if unfed:  # (the line's start would be forced: the model still has a say)
                    logits, unfed = self._feed_timed(unfed, times), []
                wanted = int(logits.argmax())
                if not _allows(allowed, wanted):  # the line it wants is not allowed: end here
                    times.stopped = True
                    times.meant_more = self.tokenizer.decode([wanted])
                    return
            token = self._forced(allowed)
            if token is not None:
                probability = 1.0
                times.forced += token not in self.stop_ids
            else:
                if unfed:
                    logits, unfed = self._feed_timed(unfed, times), []
                token, probability = self._choose(logits, previous, logits_processor, allowed)
            # (cheapest test first: `allowed` may hold thousands of ids where a word is open)
            optional_line = (allowed is not None and token not in self.stop_ids
                             and self._newline(token) and _allows(allowed, list(self.stop_ids)))
            previous = token
            times.min_probability = min(times.min_probability, probability)
            if token in self.stop_ids:
                times.stopped = True
                return
            times.generated += 1
            yield token
            if step + 1 == max_new_tokens or (self.max_context is not None
                                              and len(ids) + step >= self.max_context):
                return  # no forward pass for a token that will never be read
            unfed.append(token)

    def _feed_timed(self, tokens: list[int], times: DecodeTimes):
        started = time.perf_counter()
        logits = self.feed_many(tokens)
        times.token_s.append(time.perf_counter() - started)
        times.fed_tokens += len(tokens)
        return logits

    def _newline(self, token: int) -> bool:
        """True for a token that ends a line ("\n", ".\n")."""
        if token not in self._newline_cache:
            self._newline_cache[token] = self.tokenizer.decode([token]).endswith("\n")
        return self._newline_cache[token]

    def feed_many(self, tokens: list[int]):
        """Append `tokens`, return the last one's logits. A backend whose engine runs a
        short run of tokens faster in one pass than one by one overrides this."""
        for token in tokens:
            logits = self.feed(token)
        return logits

    def _forced(self, allowed) -> int | None:
        """The token the grammar leaves as the only choice (`allowed`: the ids it allows; an
        end-of-turn id when only the end of the answer may follow), else None (or no
        grammar)."""
        if allowed is None or not self.take_forced:
            return None
        if len(allowed) == 1:
            return int(allowed[0])
        if len(allowed) and all(int(i) in self.stop_ids for i in allowed):
            return int(allowed[0])
        return None

    @staticmethod
    def _choose(logits, previous: int, logits_processor, allowed=None) -> tuple[int, float]:
        """Greedy: the highest logit among the tokens the grammar allows (`allowed`, the
        ids of its numpy mask, or else the processor applied to the logits), and its
        probability among the tokens left (softmax; a forced token has 1). Where the
        grammar leaves a choice - which action, which direction, which of the command's
        numbers - a low probability says the model was unsure."""
        is_tensor = hasattr(logits, "exp")
        if allowed is not None:
            ids = allowed
            if is_tensor:
                import torch

                kept = logits[torch.from_numpy(ids).to(logits.device)].float()
                best = int(kept.argmax())
                return int(ids[best]), 1.0 / float(torch.exp(kept - kept[best]).sum())
            kept = logits[ids]
            best = int(kept.argmax())
            return int(ids[best]), 1.0 / float(_np_exp(kept - kept[best]).sum())
        if logits_processor is None:
            token = int(logits.argmax())
            top = logits[token]
            return token, 1.0 / float(((logits - top).exp() if is_tensor
                                       else _np_exp(logits - top)).sum())
        import torch

        scores = torch.as_tensor(logits).float().clone()[None, :]
        scores = logits_processor(torch.tensor([[previous]]), scores)[0]
        token = int(scores.argmax())
        return token, 1.0 / float(torch.exp(scores - scores[token]).sum())

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


def _allows(allowed, tokens) -> bool:
    """True when `allowed` (a grammar's ids) holds the token, or any of the tokens."""
    import numpy as np

    return bool(np.isin(tokens, allowed).any())


def _flatnonzero(mask):
    """The ids a grammar's boolean mask allows (computed once per step: both the forced
    token check and the choice read them)."""
    import numpy as np

    return np.flatnonzero(mask)


def _np_exp(values):
    import numpy as np

    return np.exp(values.astype(np.float64, copy=False))


def load_adapter_tokenizer(adapter_dir):
    """The adapter's own tokenizer: it carries the chat template used in training."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(adapter_dir))
    except Exception as exc:  # missing or corrupt tokenizer files
        raise AdapterError(f"cannot load the tokenizer in {adapter_dir}: "
                           f"{type(exc).__name__}: {exc}") from exc


class DecodingModel(LineStreamModel):
    """A CommandModel on a GreedyDecoder. A backend's model sets `tokenizer`,
    `system_prompt`, `generation_config` (max_new_tokens, eos_token_id: the names
    transformers uses) and `decoder`, and supplies `vocab_size` and `_load`."""

    tokenizer = None
    system_prompt = ""
    generation_config = None
    decoder: GreedyDecoder | None = None
    last_times: DecodeTimes | None = None  # where the latest answer's time went
    constraint = None  # a robot_sft.inference.constraint.ResponseConstraint, when enabled

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    @classmethod
    def _load(cls, adapter_dir, base_model: str, system_prompt: str, max_new_tokens: int,
              **options) -> "DecodingModel":
        """The backend's part of from_adapter: base + adapter -> a model."""
        raise NotImplementedError

    @classmethod
    def from_adapter(cls, adapter_dir, base_model: str | None = None, *,
                     max_new_tokens: int = 128, constrained: bool = False, places=None,
                     grounded: bool = False, **options) -> "DecodingModel":
        """The model of a trained adapter directory (its metadata names the base and the
        system prompt; `base_model` overrides the base), optionally decoding under the
        response grammar (`grounded`: each command's own). `options` are the backend's
        (`_load`). Raises AdapterError (bad adapter directory) or ModelLoadError (base)."""
        metadata = read_metadata(adapter_dir)
        model = cls._load(adapter_dir, base_model or metadata.base_model, metadata.system_prompt,
                          max_new_tokens, **options)
        if constrained:
            model.enable_grammar(places, grounded)
        return model

    @property
    def last_confidence(self) -> float:
        return 1.0 if self.last_times is None else self.last_times.min_probability

    @property
    def last_meant_more(self) -> str | None:
        return None if self.last_times is None else self.last_times.meant_more

    def enable_grammar(self, places=None, grounded: bool = False) -> None:
        """Decode under the response grammar (robot_sft.inference.constraint, llguidance):
        every answer that ends parses; with `places`, navigation can only name those places;
        `grounded`: each command's own grammar (only its numbers, units, directions, words)."""
        from robot_sft.inference.constraint import ResponseConstraint

        self.constraint = ResponseConstraint(self.tokenizer, self.vocab_size,
                                             places=places or None, grounded=grounded)

    def stream_lines(self, command: str, cancel: threading.Event | None = None) -> Iterator[str]:
        """The answer in pieces, each complete line (with its newline) as soon as it is
        generated. Raises GenerationCancelled when `cancel` is set, AnswerTruncated when
        max_new_tokens ends the answer before its end-of-turn."""
        check_cancel(cancel)
        budget = self.generation_config.max_new_tokens
        self.last_times = times = DecodeTimes()
        yield from self._lines(command, budget, cancel, times)
        if not times.stopped:
            raise AnswerTruncated(f"the answer reached max_new_tokens={budget} before its end")

    def _lines(self, command: str, budget: int, cancel: threading.Event | None,
               times: DecodeTimes) -> Iterator[str]:
        processor = self.constraint.logits_processor(command) if self.constraint else None
        return self.decoder.stream_lines(command, budget, cancel, times, processor)

"""The model contract: what the controller node (and evaluation, the benchmarks) may ask
of a language model. The bottom of the model layer: pure Python, imports nothing heavy.

    class CommandModel(Protocol):
        description: str                                    # for the node's "ready" log
        last_confidence: float                              # of the latest answer, 0..1
        last_meant_more: str | None                         # a line the grammar cut off
        def stream_lines(self, command, cancel=None) -> Iterator[str]
        def respond(self, command, cancel=None) -> str      # "".join(stream_lines).strip()

`stream_lines` hands the answer over in pieces, each complete line (with its newline) as
soon as it is written, so the node can start the first action while the model writes
the next. Both raise GenerationCancelled once `cancel` is set; `stream_lines` raises
AnswerTruncated when the token budget ends the answer before its end-of-turn.
`last_confidence` is the probability the model gave its least sure choice in the latest
answer (1.0 for a model that does not say): the node refuses an answer below
`min_confidence` as unclear rather than act on a guess. `last_meant_more` is the start of
the line the model meant to write next where its grammar ended the answer instead (None
when it ended on its own): the node refuses a motion the command does not ground
(robot_sft.answer).

Cancelling is an Event passed with each call, not a `cancel()` method on the model: the
node makes one Event per command, so a stop or a newer command cancels exactly the
generation it was meant for, even when it arrives before that generation has started.

Every model implements all of it (the node never probes for features). Two small bases
fill in one method from the other: `WholeAnswerModel` for a model that has its whole
answer at once (the fixed/echo model), `LineStreamModel` for one that writes line by line.
"""
from __future__ import annotations

import os
import threading
from typing import Iterator, Protocol

ECHO = "{command}"  # in a fixed response: replaced by the command text


class AnswerTruncated(Exception):
    """The answer hit max_new_tokens before its end-of-turn: its last complete lines may
    be only part of what the model meant (half a square), so the node must not act on it."""


class GenerationCancelled(Exception):
    """The model gave up because its cancel event was set (stop or a newer command)."""


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled()


class CommandModel(Protocol):
    description: str
    last_confidence: float
    last_meant_more: str | None

    def stream_lines(self, command: str,
                     cancel: threading.Event | None = None) -> Iterator[str]: ...

    def respond(self, command: str, cancel: threading.Event | None = None) -> str: ...


def whole_answer(model: CommandModel, command: str, cancel: threading.Event | None = None) -> str:
    """`model.stream_lines` joined: the whole answer. A truncated answer is returned as it
    is (evaluation scores it); the node uses `stream_lines`, which raises AnswerTruncated."""
    pieces = []
    try:
        for piece in model.stream_lines(command, cancel):
            pieces.append(piece)
    except AnswerTruncated:
        pass
    return "".join(pieces).strip()


class LineStreamModel:
    """A model that writes its answer line by line: `respond` is the joined stream."""

    last_confidence = 1.0
    last_meant_more: str | None = None

    @property
    def description(self) -> str:
        return type(self).__name__

    def stream_lines(self, command: str, cancel: threading.Event | None = None) -> Iterator[str]:
        raise NotImplementedError

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        return whole_answer(self, command, cancel)


class WholeAnswerModel:
    """A model that has its whole answer at once. `stream_lines` hands it over as one
    piece that ends with a newline: every line is complete, so the node plans them all
    together and nothing moves unless all of it plans (as with stream_actions off)."""

    last_confidence = 1.0
    last_meant_more: str | None = None

    @property
    def description(self) -> str:
        return type(self).__name__

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        raise NotImplementedError

    def stream_lines(self, command: str, cancel: threading.Event | None = None) -> Iterator[str]:
        yield self.respond(command, cancel).rstrip("\n") + "\n"


class FixedResponseModel(WholeAnswerModel):
    """Always answers `text`, with '{command}' replaced by the command (an echo).
    For dry runs without a model and for tests."""

    def __init__(self, text: str = ECHO):
        self.text = text

    @property
    def description(self) -> str:
        return "fixed response (echo)" if self.text == ECHO else f"fixed response {self.text!r}"

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        check_cancel(cancel)
        return self.text.replace(ECHO, command)

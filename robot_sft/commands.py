"""What the node does with raw /command text before any model sees it.

Pure Python. Two jobs:
- `sanitise_command`: any input (binary, control characters, megabytes of text)
  becomes one bounded line of printable text, so the tokenizer and the log stay safe.
- `is_stop_command`: a deterministic stop detector that runs BEFORE the model, so
  "stop" halts the robot in milliseconds even while the model is busy or wrong.
"""
from __future__ import annotations

import re
import unicodedata

from robot_sft.grounding import mentioned_numbers

# A command is a stop command when every word is a stop word or filler, and at
# least one is a stop word: "Stop!", "emergency stop", "stop now please", "halt".
# "Stop at the kitchen" is not one (it goes to the model, and still preempts motion).
STOP_WORDS = frozenset({
    "stop", "halt", "freeze", "estop", "abort", "emergency", "enough", "whoa", "woah",
    "stopp", "arrête", "arrete", "alto",  # common enough to honour without a model
})
STOP_PHRASES = ("e stop", "stand still", "dont move", "do not move", "no more moving",
                "no more move", "no more motion")
_FILLER_WORDS = frozenset({
    "now", "please", "immediately", "right", "away", "the", "robot", "it", "all",
    "motion", "moving", "movement", "everything", "just", "hey", "ok", "okay", "you",
    "at", "once", "asap", "thats", "that", "is", "stay", "there", "here",  # "freeze right there"
})

_STOP_PHRASES = re.compile(r"\b(?:" + "|".join(STOP_PHRASES) + r")\b")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def sanitise_command(raw, max_chars: int) -> str:
    """One line of text of at most `max_chars` characters from whatever arrived.

    Bytes are decoded as UTF-8 with replacement characters; control characters
    and runs of whitespace become single spaces; the text is cut (never
    rejected) so a huge message costs no more than a short one."""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = str(raw)
    raw = raw[: max(4 * max_chars, 64)]  # bound the work below on huge input
    text = unicodedata.normalize("NFC", raw)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") else c for c in text)
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text[:max_chars].rstrip()


def _words(text: str) -> list[str]:
    # NFKC folds full-width "ＳＴＯＰ" and similar look-alikes onto plain letters.
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("\u2019", "")
    return re.findall(r"[^\W_]+", text)  # numbers count as words: "stop 3" is not a stop


# After a stop clause, words that ask for something more ("stop, then turn left", "stop and
# report the battery"): such a command goes to the model (which preempts motion too). Without
# any of them the rest is the reason ("e-stop, person in aisle"), and the stop is served now.
_MORE_REQUESTED = frozenset({
    "go", "move", "drive", "turn", "rotate", "spin", "back", "reverse", "head", "navigate",
    "continue", "resume", "then", "after", "afterwards", "next", "report", "battery",
    "obstacle", "obstacles", "status", "check", "tell", "come", "return", "follow", "start",
    "keep", "proceed", "advance", "forward", "left", "right", "and", "but", "to", "wait",
    "scan", "charge", "dock", "why", "what", "how", "where", "dont", "not", "never",
})
_CLAUSE_END = re.compile(r"[,;:.!?]|\s[-\u2013\u2014]\s")


def is_stop_command(text: str) -> bool:
    """True when the command only asks the robot to stop (any case, punctuation, politeness),
    perhaps with a reason after the stop ("e-stop, person in aisle", "stop! someone is in
    front of you"): no number and no word of a further request follows."""
    if not isinstance(text, str) or len(text) > 200:
        return False
    if _only_stop(_words(text)):
        return True
    first, *rest = _CLAUSE_END.split(text, maxsplit=1)
    after = _words(rest[0]) if rest else []
    return bool(after) and _only_stop(_words(first)) and not mentioned_numbers(rest[0]) \
        and not any(w in _MORE_REQUESTED for w in after)


def _only_stop(words: list[str]) -> bool:
    if not words:
        return False
    words = _STOP_PHRASES.sub("stop", " ".join(words)).split()
    return any(w in STOP_WORDS for w in words) and all(
        w in STOP_WORDS or w in _FILLER_WORDS for w in words)


class RateLimit:
    """At most `rate` commands per second on average, in bursts of up to `burst`
    (a token bucket; default burst: one second's worth). rate 0: no limit. Pure: the
    caller passes the time (monotonic seconds)."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self._tokens = self.burst
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

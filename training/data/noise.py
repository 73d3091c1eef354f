"""Surface noise, as people type (or a recogniser transcribes) commands: typos, casing,
sentence case, and speech fillers without punctuation. Only the surface changes, never
the meaning: typos skip numbers and protected words (directions, units, places, which a
target copies or a grounding check looks for). Pure Python.
"""
from __future__ import annotations

import re
import string

from training.data.numbers import ONES, TENS

_KEYBOARD_NEIGHBOURS = dict(zip("qwertyuiopasdfghjklzxcvbnm", [
    "wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "ol", "qsz", "awdx", "sefc",
    "drgv", "fthb", "gyjn", "hukm", "jil", "kop", "zxs", "xcd", "cvf", "vbg", "bnh", "nmj", "mk"]))
NUMBER_WORDS = set(ONES) | {t for t in TENS if t} | {"hundred", "half", "quarter", "point"}


def add_typo(text: str, rng, protected=frozenset()) -> str:
    """One realistic typo (swap, drop, double or neighbouring key) in a word of 4+ letters
    that is not a number or a protected word (place names are copied into targets)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words)
                  if len(w) >= 4 and w.isalpha() and w.lower() not in NUMBER_WORDS
                  and w.lower() not in protected]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    op = rng.choice(["swap", "drop", "double", "key"])
    if op == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif op == "drop":
        w = w[:j] + w[j + 1:]
    elif op == "double":
        w = w[:j] + w[j] + w[j:]
    elif w[j].lower() in _KEYBOARD_NEIGHBOURS:
        w = w[:j] + rng.choice(_KEYBOARD_NEIGHBOURS[w[j].lower()]) + w[j + 1:]
    words[i] = w
    return " ".join(words)


def sentence_case(text: str) -> str:
    """Capitalise the first letter and the first after each full stop ("... 2 m. Then ...")."""
    text = re.sub(r"([.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text[:1].upper() + text[1:]


def casing(text: str, rng, direction_words=frozenset(), formal: bool = False) -> str:
    """Now and then SHOUTED, Title Cased, or with Title Case direction words only
    ("Turn Clockwise 90 degrees": a capital must not change the side)."""
    roll = rng.random()
    if roll < 0.03 and not formal:
        return text.upper()
    if roll < 0.07:
        return string.capwords(text)
    if roll < 0.15:
        return " ".join(w[:1].upper() + w[1:] if w.lower().strip(",.!?") in direction_words
                        else w for w in text.split(" "))
    return text


_NUMBERISH = re.compile(r"\d")
_IN_NUMBERS = NUMBER_WORDS | {"and", "a", "an"}  # "one and a half", "a hundred"


def spoken(text: str, rng, filler, protected=frozenset()) -> str:
    """Transcribed speech: lower case, no punctuation (decimal points and "m/s" kept), and
    a filler or two between words ("um", "you know"), never inside a number ("one and a
    half") or next to a protected word (a direction, a unit, a named turn)."""
    text = re.sub(r"(?<!\d)[.,;:!?](?!\d)|(?<=\d)[,;:!?](?!\d)|[.](?=\s|$)", " ", text.lower())
    text = text.replace(" -> ", " ").replace(" & ", " and ")
    words = text.split()
    for _ in range(rng.choice([0, 1, 1, 2])):
        slots = [i for i in range(1, len(words))
                 if not any(_NUMBERISH.search(w) or w in _IN_NUMBERS or w in protected
                            for w in words[i - 1:i + 1])]
        if slots:
            words.insert(rng.choice(slots), filler())
    return " ".join(words)

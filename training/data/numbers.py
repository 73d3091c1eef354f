"""How people say quantities: numbers (digits, words, fractions) and unit spellings.

The generator writes a quantity into a command with `say_quantity` and copies the
same value and canonical unit into the target action (copy, don't compute).
Reading numbers back out of a command is the node's job (`robot_sft.grounding.
mentioned_numbers`, re-exported here): the generator checks every target against the
same reader that grounds the model's answers, so the data can never teach a number
the node would refuse. Pure Python.
"""
from __future__ import annotations

import re

from robot_sft.grounding import ONES, TENS, mentioned_numbers
from robot_sft.response_format import format_number

__all__ = ["ONES", "TENS", "UNIT_SPELLINGS", "decimal_to_words", "mask_numbers",
           "mentioned_numbers", "number_to_words", "say_number", "say_quantity"]

# Spellings per canonical unit: (abbreviations, singular words, plural words).
UNIT_SPELLINGS = {
    "m": (["m"], ["meter", "metre"], ["meters", "metres"]),
    "cm": (["cm"], ["centimeter", "centimetre"], ["centimeters", "centimetres", "cms"]),
    "mm": (["mm"], ["millimeter", "millimetre"], ["millimeters", "millimetres"]),
    "ft": (["ft"], ["foot"], ["feet"]),
    "in": (["in"], ["inch"], ["inches"]),
    "deg": (["deg", "°"], ["degree"], ["degrees"]),
    "rad": (["rad"], ["radian"], ["radians", "rads"]),
    "s": (["s", "sec"], ["second", "sec"], ["seconds", "secs"]),
    "min": (["min"], ["minute"], ["minutes", "mins"]),
    "m/s": (["m/s"], ["meter per second"], ["meters per second", "metres per second"]),
    "cm/s": (["cm/s"], ["centimeter per second"], ["centimeters per second", "cm per second"]),
    "ft/s": (["ft/s"], ["foot per second"], ["feet per second"]),
    "rad/s": (["rad/s"], ["radian per second"], ["radians per second"]),
    "deg/s": (["deg/s", "°/s"], ["degree per second"], ["degrees per second"]),
}



def number_to_words(n: int, hyphen: bool = True, use_and: bool = False) -> str:
    """0..999 in English words: 45 -> "forty-five", 180 -> "one hundred eighty"."""
    if not 0 <= n <= 999 or int(n) != n:
        raise ValueError(f"cannot say {n!r} in words")
    n = int(n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (("-" if hyphen else " ") + ONES[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    head = ("a" if hundreds == 1 and use_and else ONES[hundreds]) + " hundred"
    if not rest:
        return head
    return head + (" and " if use_and else " ") + number_to_words(rest, hyphen)


def _unit_word(unit: str, value: float, rng, abbreviation_ok: bool = True,
               abbreviate: float = 0.45, singular: bool = False) -> str:
    abbreviations, singulars, plurals = UNIT_SPELLINGS[unit]
    choices = plurals if value != 1 and not singular else singulars
    if abbreviation_ok and rng.random() < abbreviate:
        return rng.choice(abbreviations)
    return rng.choice(choices)


def _sayable(n: int) -> bool:
    """Numbers people actually say in words: up to 20, round tens, and 180/270/360."""
    return 0 < n <= 20 or (n <= 100 and n % 5 == 0) or n in (120, 150, 180, 270, 360)


DIGIT_WORDS = ONES[:10]
SPOKEN_DECIMALS = 0.4  # of the word-said numbers, how many non-integers are said "point ..."


def decimal_to_words(value: float, rng) -> str | None:
    """A non-integer said as people say it: "one point five", "point two five", "zero point
    five", "three point one four", digit by digit after "point", or below one with two
    decimals now and then as one number ("point twenty five"). None when the integer part
    has no words (`_sayable`) or the value has more than two decimals."""
    text = format_number(value)
    if "." not in text or value < 0:
        return None
    whole, decimals = text.split(".")
    if len(decimals) > 2 or (int(whole) and not _sayable(int(whole))):
        return None
    tens = not int(whole) and len(decimals) == 2 and decimals[0] != "0" and rng.random() < 0.25
    if tens:  # "point twenty five", "point seventy-five"
        fraction = number_to_words(int(decimals), hyphen=rng.random() < 0.5)
    else:
        fraction = " ".join(DIGIT_WORDS[int(d)] for d in decimals)
    if int(whole):
        head = number_to_words(int(whole), hyphen=rng.random() < 0.7) + " "
    else:
        head = "zero " if not tens and rng.random() < 0.35 else ""
    said = f"{head}point {fraction}"
    return said if value in mentioned_numbers(said) else None  # the node reads it back


def say_number(value: float, rng, words: float = 0.2) -> str:
    """Digits most of the time; words (with probability `words`) when they exist: whole
    numbers ("forty-five"), and now and then decimals ("one point five", "point two five")."""
    if rng.random() < words:
        if value == int(value) and _sayable(int(value)):
            return number_to_words(int(value), hyphen=rng.random() < 0.7,
                                   use_and=rng.random() < 0.4)
        if value != int(value) and rng.random() < SPOKEN_DECIMALS:
            said = decimal_to_words(value, rng)
            if said:
                return said
    text = format_number(value)
    if "." in text and rng.random() < 0.04:
        text = text.replace(".", ",")  # decimal comma, as typed in much of Europe
    if text.startswith("0.") and rng.random() < 0.1:
        text = text[1:]  # ".5"
    return text


def say_quantity(value: float, unit: str, rng, words: float = 0.2, bare: bool = False,
                 abbreviate: float = 0.45, singular: bool = False, attach: float = 0.35) -> str:
    """A quantity as a person would type it: "3 feet", "2m", "half a meter", "90°".
    `bare` drops the unit (only for angles, read as degrees). Styles: `abbreviate` is the
    chance of "m" over "meters", `singular` says "2 meter" (non-native English), `attach`
    the chance of "2m" over "2 m"."""
    if bare:
        return say_number(value, rng, words)
    if rng.random() < words:  # fractions said in words
        singulars, plurals = UNIT_SPELLINGS[unit][1:]
        if value == 0.5:
            return f"half a {rng.choice(singulars)}"
        if value == 0.25 and unit not in ("in", "deg", "rad") and rng.random() < 0.6:
            # "a quarter of a metre", "a quarter meter" ("three quarters" is not read as
            # 0.75 by the node, so it is never said)
            of = " of a" if rng.random() < 0.6 else ""
            return f"a quarter{of} {rng.choice(singulars)}"
        if value == 1 and unit not in ("in", "deg", "rad"):
            return f"{'an' if unit == 'in' else 'a'} {rng.choice(singulars)}"
        if value in (1.5, 2.5) and rng.random() < 0.7:
            return f"{ONES[int(value)]} and a half {rng.choice(plurals)}"
    number = say_number(value, rng, words)
    unit_text = _unit_word(unit, value, rng, number[-1].isdigit(), abbreviate, singular)
    attached = number[-1].isdigit() and (unit_text in ("m", "cm", "mm", "ft", "°", "s", "deg")
                                         or (unit_text == "m/s" and rng.random() < 0.5))
    if unit_text == "°" or (attached and rng.random() < attach):
        return number + unit_text
    return f"{number} {unit_text}"


# Comparing phrasings whatever their numbers

_NUMBER_WORDS = set(ONES) | {t for t in TENS if t} | {"hundred", "half", "quarter"}
_ANY_NUMBER = re.compile(r"\d+(?:[.,]\d+)?|\.\d+")


def mask_numbers(text: str) -> str:
    """Digits and number words -> "#", for comparing phrasings whatever their numbers
    ("drive two and a half m" -> "drive # and a # m")."""
    text = _ANY_NUMBER.sub("#", text)
    return " ".join("#" if w in _NUMBER_WORDS else w for w in re.split(r"[\s-]+", text) if w)

"""Copy-grounding: is every quantity, unit, direction and place of an answer in the command?

A small model copies well and invents badly: given "take a right" it wrote
`Turn right 180 deg.`, given "at 0.5 m/s for 10 s" it copied the speed as a distance.
Code cannot tell a right answer from a wrong one, but it can tell an answer that
copies from one that invents. `check_grounding(command, actions)` lists what an
answer says that the command does not (empty list: grounded); the node turns any
finding into an "unclear, please rephrase" refusal, so nothing invented moves.

What counts as said (docs/command-policy.md):
- numbers in digits ("2", "0.5", ".5", "1,5") or words ("two", "twenty-five",
  "one hundred eighty", "half a", "one and a half", "a quarter"), and the named
  turns of `NAMED_TURNS` ("quarter turn" = 90 deg, "turn around" = 180 deg);
- units in any spelling of `UNIT_WORDS`; an angle with no unit is in degrees;
- a direction needs a cue word (`DIRECTION_CUES`), except the defaults the policy
  names: forward for a straight move and left (counter-clockwise) for a turn, when
  the command names no opposite direction;
- a place is a run of the command's own words.
The same readers build the decode-time grammar for the command
(robot_sft.grammar.grounded_grammar), so the grammar and this check agree.
Pure Python: no torch, no rclpy.
"""
from __future__ import annotations

import re

from robot_sft.response_format import (
    DefaultTurn, Move, Navigate, Shape, TimedMove, Turn, format_number,
)

# ------------------------------------------------------------------ numbers

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
WORD_VALUES = {w: i for i, w in enumerate(ONES)} | {w: 10 * i for i, w in enumerate(TENS) if w}
FRACTION_WORDS = {"half": 0.5, "quarter": 0.25}

_DIGITS = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?|\.\d+)")

# Turns said by name: the angle (deg) a phrase stands for. "around" covers "turn
# around", "spin around"; "180" is also a digit, read as a number anyway.
NAMED_TURNS = {
    90.0: ("quarter turn", "quarter of a turn", "quarter rotation", "quarter circle"),
    180.0: ("turn around", "turn yourself around", "turn back around", "spin around",
            "u-turn", "u turn", "uturn", "about face", "about-face", "half turn",
            "half a turn", "half circle", "half a circle", "half rotation", "one-eighty",
            "one eighty", "other way", "opposite direction", "opposite way", "a 180"),
    270.0: ("three-quarter turn", "three quarter turn", "three quarters of a turn",
            "three-quarters of a turn"),
    360.0: ("full turn", "full circle", "full rotation", "full spin", "complete turn",
            "complete circle", "complete rotation", "whole turn", "whole circle",
            "a 360", "three-sixty", "three sixty"),
}


def normalise(text: str) -> str:
    """Lower case, one space between words, digits apart from letters ("2m" -> "2 m")."""
    text = str(text).lower().replace("\u2212", "-").replace("’", "'")
    text = re.sub(r"(?<=\d)(?=[a-z°])|(?<=[a-z°])(?=\d)", " ", text)
    return " ".join(text.split())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z°/']+|\d+(?:[.,]\d+)?|\.\d+", normalise(text).replace("-", " "))


def mentioned_numbers(text: str) -> set[float]:
    """Every number a command mentions, in digits or words ("two and a half" -> 2.5,
    "half a meter" -> 0.5, "a foot" -> 1, "a quarter" -> 0.25)."""
    text = normalise(text)
    found = {float(m.replace(",", ".")) for m in _DIGITS.findall(text)}
    tokens = re.findall(r"[a-z°/']+", text.replace("-", " "))
    i = 0
    while i < len(tokens):
        token = tokens[i]
        starts_hundred = token in ("a", "an", "one") and tokens[i + 1:i + 2] == ["hundred"]
        if token in WORD_VALUES or starts_hundred:
            current = WORD_VALUES.get(token, 1)
            i += 1
            while i < len(tokens):
                t = tokens[i]
                if t == "hundred":
                    current *= 100
                elif t in WORD_VALUES and (current >= 100 or (current % 10 == 0 and
                                                              WORD_VALUES[t] < 10)):
                    current += WORD_VALUES[t]
                elif t == "and" and tokens[i + 1:i + 2] and tokens[i + 1] in WORD_VALUES:
                    pass
                elif t == "and" and tokens[i + 1:i + 3] in (["a", "half"], ["one", "half"]):
                    current += 0.5
                    i += 2
                elif t == "point" and tokens[i + 1:i + 2] and tokens[i + 1] in ONES[:10]:
                    current += ONES.index(tokens[i + 1]) / 10  # "one point five"
                    i += 1
                else:
                    break
                i += 1
            found.add(float(current))
            continue
        if token in FRACTION_WORDS:
            found.add(FRACTION_WORDS[token])
            if tokens[i + 1:i + 2] in (["a"], ["an"]):
                i += 1  # "half a metre" is 0.5, not also 1
        elif token in ("a", "an", "one") and tokens[i + 1:i + 2] and tokens[i + 1] in _UNIT_SPELLINGS:
            found.add(1.0)  # "a foot", "a meter", "one second"
        i += 1
    return found


def _take_phrases(text: str, phrases) -> tuple[set, str]:
    """The labels of (phrase, label) pairs found in `text`, longest phrase first, each
    match removed so a shorter phrase inside it ("clockwise" in "counter-clockwise",
    "quarter turn" in "three-quarter turn") is not found again."""
    found = set()
    for phrase, label in sorted(phrases, key=lambda pl: len(pl[0]), reverse=True):
        pattern = rf"(?<![a-z]){re.escape(phrase)}(?![a-z])"
        if re.search(pattern, text):
            found.add(label)
            text = re.sub(pattern, " ", text)
    return found, text


def named_turn_angles(text: str) -> set[float]:
    """Angles (deg) the command names in words: "do a U-turn" -> {180}."""
    pairs = [(p.replace("-", " "), a) for a, ps in NAMED_TURNS.items() for p in ps]
    return _take_phrases(normalise(text).replace("-", " "), pairs)[0]


# ------------------------------------------------------------------ units

# Spellings a person may use, per canonical unit of the response format.
UNIT_WORDS = {
    "m": ("m", "meter", "meters", "metre", "metres", "mtr", "mtrs", "meter's"),
    "cm": ("cm", "cms", "centimeter", "centimeters", "centimetre", "centimetres"),
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "ft": ("ft", "foot", "feet", "'"),
    "in": ("in", "inch", "inches", '"'),
    "deg": ("deg", "degs", "degree", "degrees", "°"),
    "rad": ("rad", "rads", "radian", "radians"),
    "s": ("s", "sec", "secs", "second", "seconds"),
    "min": ("min", "mins", "minute", "minutes"),
}
_PER_SECOND = ("/s", "/ s", "per second", "per sec", "a second", "each second", "/sec",
               "every second")
SPEED_UNIT_PARTS = {"m/s": "m", "cm/s": "cm", "ft/s": "ft", "rad/s": "rad", "deg/s": "deg"}
_UNIT_SPELLINGS = {w for spellings in UNIT_WORDS.values() for w in spellings}


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None


def unit_mentioned(text: str, unit: str) -> bool:
    """True when the command spells `unit` somehow ("m/s": "meters per second", "m/s", "mps")."""
    text = normalise(text)
    if unit in SPEED_UNIT_PARTS:
        if unit == "m/s" and _has_word(text, "mps"):
            return True
        compact = text.replace(" ", "")
        if unit in compact:
            return True
        base = SPEED_UNIT_PARTS[unit]
        return (any(_has_word(text, w) for w in UNIT_WORDS[base])
                and any(p in text for p in _PER_SECOND))
    return any(_has_word(text, w) for w in UNIT_WORDS[unit])


# ------------------------------------------------------------------ directions

# Cue phrases per direction. Longer phrases are matched (and removed) first, so
# "counter-clockwise" is not also read as "clockwise".
DIRECTION_CUES = {
    "left": ("counter to the clockwise", "opposite of clockwise", "opposite to clockwise",
             "counterclockwise", "counter clockwise", "counter-clockwise", "anticlockwise",
             "anti clockwise", "anti-clockwise", "ccw", "left", "port", "widdershins"),
    "right": ("clockwise", "cw", "right", "starboard"),
    "backward": ("backward", "backwards", "back", "reverse", "reversing", "retreat",
                 "retreating", "behind", "rearward", "rearwards", "astern", "backup"),
    "forward": ("forward", "forwards", "ahead", "straight", "front", "onward", "onwards",
                "advance", "fwd", "frontward", "frontwards"),
}
_OPPOSITE = {"left": "right", "right": "left", "forward": "backward", "backward": "forward"}
DEFAULT_DIRECTIONS = ("forward", "left")  # what the policy assumes when no side is named


def direction_cues(text: str) -> set[str]:
    """The directions the command names ("turn counter-clockwise" -> {"left"})."""
    pairs = [(p.replace("-", " "), d) for d, ps in DIRECTION_CUES.items() for p in ps]
    return _take_phrases(normalise(text).replace("-", " "), pairs)[0]


def direction_grounded(direction: str, cues: set[str]) -> bool:
    """A direction is said, or is the policy's default and its opposite is not said."""
    return direction in cues or (direction in DEFAULT_DIRECTIONS
                                 and _OPPOSITE[direction] not in cues)


# ------------------------------------------------------------------ places

MAX_PLACE_WORDS = 4


def place_spans(text: str, max_words: int = MAX_PLACE_WORDS) -> set[str]:
    """Every run of up to `max_words` of the command's words, as a Navigate place would
    read it ("go to the Charging Station!" -> {"charging station", ...})."""
    words = re.findall(r"[a-z0-9][a-z0-9_'-]*", normalise(text))
    spans = set()
    for i in range(len(words)):
        for n in range(1, max_words + 1):
            if i + n <= len(words):
                span = " ".join(words[i:i + n]).strip("'-")
                if span and span != "the" and not span.startswith("the "):
                    spans.add(span)
    return spans


# ------------------------------------------------------------------ the check

def _quantities(action):
    """(what, value, unit) for every number an action carries."""
    if isinstance(action, Move):
        yield "distance", abs(action.distance), action.unit
    elif isinstance(action, Turn):
        yield "angle", abs(action.angle), action.unit
    elif isinstance(action, TimedMove):
        yield "duration", action.duration, action.unit
    elif isinstance(action, Shape):
        yield "side", action.side, action.unit
    if getattr(action, "speed", None) is not None:
        yield "speed", action.speed, action.speed_unit


def _directions(action):
    if isinstance(action, Move):
        yield "forward" if action.distance >= 0 else "backward"
    elif isinstance(action, Turn):
        yield "left" if action.angle >= 0 else "right"
    elif isinstance(action, TimedMove):
        yield action.direction
    elif isinstance(action, (Shape, DefaultTurn)):
        yield "left" if action.direction > 0 else "right"


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))


def check_grounding(command: str, actions) -> list[str]:
    """What `actions` (a parsed answer to `command`) say that the command does not: an
    empty list when every number, unit, direction and place is grounded."""
    numbers = mentioned_numbers(command)
    named = named_turn_angles(command)
    cues = direction_cues(command)
    spans = None
    findings = []
    for action in actions:
        for what, value, unit in _quantities(action):
            if what == "angle" and unit == "deg" and any(_same(value, a) for a in named):
                continue  # "quarter turn" -> 90 deg
            if not any(_same(value, n) for n in numbers):
                findings.append(f"the {what} {format_number(value)} is not in the command")
            elif not (unit_mentioned(command, unit) or (what == "angle" and unit == "deg")):
                findings.append(f"the unit {unit} of the {what} is not in the command")
        for direction in _directions(action):
            if not direction_grounded(direction, cues):
                findings.append(f"the direction {direction} has no cue in the command")
        if isinstance(action, Navigate):
            spans = place_spans(command) if spans is None else spans
            if action.place not in spans:
                findings.append(f"the place {action.place!r} is not named in the command")
    return findings

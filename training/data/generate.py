"""Synthetic robot-command SFT data: paraphrased commands -> canonical action targets.

    python -m training.data.generate --out data/robot_commands --n 5000 --seed 0

Every target is written by `render_response` from the actions the command asks
for, copying number, unit, direction and place from the command (copy, don't
compute: "3 feet" -> Move(3, "ft"), "clockwise" -> negative angle, "back up" ->
negative distance). Conventions shared with test/data/handwritten_commands.jsonl:
"turn around" / "spin" without a direction turn left; an angle without a unit is in
degrees; a distance without a unit is unclear (refused); numeric speeds, and
distances/angles/durations over the safety limits, are copied (the planner refuses
them: zero motion); "full speed", "as fast as you can" and km/h or mph
speeds are refused by the model.

Held-out split by paraphrase template: each template id (see `templates.py`) is
train-only or held-out-only, drawn per category from the seed, so every category
has held-out phrasings and evaluation measures generalisation to unseen wording.

Row fields: messages (system, user, assistant), intent (`intent_of(actions)`),
category (finer label: the generator category below), actions (`action_to_dict`),
template_id, split. Pure Python: no torch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from robot_sft.response_format import (
    DEFAULT_SYSTEM_PROMPT, REFUSAL_REASONS, RESPONSE_FORMAT_VERSION, SHAPE_SIDES, Move, Navigate,
    Refuse, Shape, Status, Stop, TimedMove, Turn, action_to_dict, expand_actions, intent_of,
    render_response,
)
from robot_sft.safety import PlanError, plan_twists
from robot_sft.tutorial import SEED_EXAMPLES  # the tutorial's five, always in train
from training.data.numbers import ONES, TENS, mentioned_numbers, say_number, say_quantity
from training.data import templates as T

# Share of generated rows per category (normalised). Motion is about half, refusals
# about a fifth, so the model sees every behaviour often; rarer categories have
# fewer distinct phrasings (and dedup would exhaust them anyway).
CATEGORY_WEIGHTS = {
    "move": 0.16, "turn": 0.12, "turn_named": 0.03, "timed_move": 0.05, "timed_turn": 0.03,
    "sequence": 0.12, "shape": 0.03, "stop": 0.05, "navigate": 0.08,
    "status_battery": 0.035, "status_obstacles": 0.035,
    "refuse_unsupported": 0.045, "refuse_unsafe_speed": 0.03, "refuse_unbounded": 0.03,
    "refuse_injection": 0.035, "refuse_language": 0.03, "refuse_unclear": 0.03,
    "over_limit": 0.04,  # copied targets the planner must refuse (zero motion)
}
REFUSAL_CATEGORIES = {f"refuse_{key}": key for key in REFUSAL_REASONS}
# Which clauses a sequence is built from (stop only ever comes last).
CLAUSE_WEIGHTS = {"move": 0.34, "turn": 0.30, "timed_move": 0.08, "timed_turn": 0.05,
                  "turn_named": 0.08, "navigate": 0.05, "status_battery": 0.03,
                  "status_obstacles": 0.03}
# Over-limit rows reuse these categories' templates with out-of-limit quantities.
OVER_LIMIT_BASES = {"move": 0.5, "turn": 0.15, "timed_move": 0.25, "timed_turn": 0.1}
MAX_WORDS = 24          # commands stay short: training speed matters
MODIFIER_PROB = 0.3     # share of motions with "slowly"/"quickly"/"at 0.2 m/s"
POLITE_PROB = 0.3
TYPO_PROB = 0.12


@dataclass(frozen=True)
class Template:
    id: str
    category: str
    text: str
    extra: object = None  # fixed direction sign, named-turn angle, or (sides, sign)


def all_templates() -> dict[str, list[Template]]:
    out = {}
    for category, entries in T.TEMPLATES.items():
        out[category] = []
        for i, entry in enumerate(entries):
            text, *extra = entry if isinstance(entry, tuple) else (entry,)
            extra = None if not extra else extra[0] if len(extra) == 1 else tuple(extra)
            out[category].append(Template(f"{category}/{i:02d}", category, text, extra))
    return out


def split_templates(seed: int = 0, heldout_fraction: float = 0.15) -> dict[str, set[str]]:
    """Template ids per split: per category, the ids whose seeded hash ranks lowest are
    held out (at least one per category, at least one left for training)."""
    held = set()
    for category, templates in all_templates().items():
        ranked = sorted(templates, key=lambda t: hashlib.sha256(f"{seed}:{t.id}".encode()).digest())
        k = min(max(1, round(len(ranked) * heldout_fraction)), len(ranked) - 1)
        held.update(t.id for t in ranked[:k])
    every = {t.id for ts in all_templates().values() for t in ts}
    return {"train": every - held, "heldout": held}


def normalise_command(text: str) -> str:
    """Dedup key: lower case, punctuation dropped (decimal points kept)."""
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text.lower())
    return " ".join(re.sub(r"[^\w/.']+", " ", text).split())


# --------------------------------------------------------------------------
# Quantities (within robot_sft.safety.SafetyLimits unless `over`)
# --------------------------------------------------------------------------

def _pick(rng, table: dict):
    return rng.choices(list(table), weights=list(table.values()))[0]


_DIST_VALUES = {
    "m": [0.1, 0.2, 0.25, 0.3, 0.5, 0.5, 0.75, 1, 1, 1.2, 1.5, 2, 2, 2.5, 3, 4, 5, 6, 8, 10],
    "cm": [5, 10, 15, 20, 25, 30, 40, 50, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300, 500],
    "mm": [5, 10, 20, 50, 100, 150, 200, 250, 500, 750],
    "ft": [1, 2, 3, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25],
    "in": [1, 2, 3, 4, 6, 8, 10, 12, 18, 24, 36, 48],
}
_DIST_RANDOM = {"m": (0.1, 10, 1), "cm": (1, 999, 0), "mm": (1, 2000, 0), "ft": (1, 32, 0),
                "in": (1, 390, 0)}
_DIST_OVER = {"m": (11, 100), "cm": (1100, 5000), "ft": (35, 300), "in": (400, 2000)}
_ANGLE_VALUES = {"deg": [5, 10, 15, 20, 30, 45, 45, 60, 75, 90, 90, 90, 120, 135, 150, 180,
                         180, 270, 360],
                 "rad": [0.1, 0.25, 0.5, 0.75, 1, 1.5, 1.57, 2, 2.5, 3, 3.14, 4, 6.28]}
_DURATION_VALUES = [1, 1.5, 2, 2, 3, 3, 4, 5, 5, 6, 8, 10, 10, 12, 15, 20, 30, 45, 60]
_LINEAR_SPEEDS = {"m/s": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 1],
                  "cm/s": [5, 10, 15, 20, 25, 30, 40, 50, 75], "ft/s": [0.5, 1, 1.5, 2, 2.5, 3]}
_ANGULAR_SPEEDS = {"rad/s": [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.2, 1.5],
                   "deg/s": [10, 15, 20, 30, 45, 60, 90]}


def _random_value(rng, lo, hi, decimals):
    value = round(rng.uniform(lo, hi), decimals)
    return int(value) if decimals == 0 else value


def sample_distance(rng, over: bool = False) -> tuple[float, str]:
    if over:
        unit = _pick(rng, {"m": 5, "cm": 1, "ft": 3, "in": 1})
        lo, hi = _DIST_OVER[unit]
        return rng.choice([lo, hi // 2, int(rng.uniform(lo, hi))]), unit
    unit = _pick(rng, {"m": 45, "cm": 25, "ft": 15, "in": 8, "mm": 7})
    if rng.random() < 0.7:
        return rng.choice(_DIST_VALUES[unit]), unit
    return _random_value(rng, *_DIST_RANDOM[unit]), unit


def sample_angle(rng, over: bool = False) -> tuple[float, str]:
    if over:
        return (rng.choice([1000, 1080, 1440, 2000, int(rng.uniform(750, 3600))]), "deg") \
            if rng.random() < 0.8 else (rng.choice([13, 15, 20, 30]), "rad")
    if rng.random() < 0.8:
        return (rng.choice(_ANGLE_VALUES["deg"]) if rng.random() < 0.7
                else 5 * _random_value(rng, 1, 144, 0) if rng.random() < 0.8
                else _random_value(rng, 1, 720, 0)), "deg"
    return (rng.choice(_ANGLE_VALUES["rad"]) if rng.random() < 0.7
            else _random_value(rng, 0.1, 12.5, 1)), "rad"


def sample_duration(rng, over: bool = False) -> tuple[float, str]:
    if over:
        return (rng.choice([90, 120, 300, 600, int(rng.uniform(61, 600))]), "s") \
            if rng.random() < 0.6 else (rng.choice([2, 3, 5, 10, 30]), "min")
    if rng.random() < 0.08:
        return rng.choice([0.5, 1]), "min"
    return (rng.choice(_DURATION_VALUES) if rng.random() < 0.7
            else _random_value(rng, 1, 60, 0)), "s"


def sample_speed(rng, linear: bool) -> tuple[float, str]:
    if rng.random() < 0.04:  # over the limit: copied, the planner refuses it
        return (rng.choice([1.5, 2, 3, 5]), "m/s") if linear else (rng.choice([2, 3, 4]), "rad/s")
    table = _LINEAR_SPEEDS if linear else _ANGULAR_SPEEDS
    unit = _pick(rng, {"m/s": 6, "cm/s": 2, "ft/s": 1} if linear else {"rad/s": 3, "deg/s": 1})
    return rng.choice(table[unit]), unit


# --------------------------------------------------------------------------
# Slot fillers
# --------------------------------------------------------------------------

def _direction(rng, linear: bool) -> tuple[str, int]:
    if linear:
        forward = rng.random() < 0.65
        return rng.choice(T.FORWARD_WORDS if forward else T.BACKWARD_WORDS), 1 if forward else -1
    left = rng.random() < 0.5
    return rng.choice(T.LEFT_WORDS if left else T.RIGHT_WORDS), 1 if left else -1


def _place(rng) -> tuple[str, str]:
    """(phrase in the command, place name in the target)."""
    if rng.random() < 0.25:
        name = rng.choice(T.NUMBERED_PLACES).format(
            n=rng.randint(1, 450), k=rng.randint(1, 12), letter=rng.choice("abcdef"))
        return name, name
    name, article = rng.choice(T.PLACES)
    return (f"the {name}" if article and rng.random() < 0.85 else name), name


def _gibberish(rng) -> str:
    rows = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    row = rng.choice(rows)
    start = rng.randrange(len(row) - 3)
    return row[start:start + rng.randint(3, 7)] * rng.choice([1, 1, 2])


def _modifier(rng, linear: bool, prob: float) -> tuple[str, dict]:
    """("slowly", {"pace": "slow"}), ("at 0.2 m/s", {"speed": .., "speed_unit": ..}) or ("", {})."""
    roll = rng.random()
    if roll >= prob:
        return "", {}
    roll /= prob
    if roll < 0.4:
        return rng.choice(T.SLOW_WORDS), {"pace": "slow"}
    if roll < 0.65:
        return rng.choice(T.FAST_WORDS), {"pace": "fast"}
    value, unit = sample_speed(rng, linear)
    text = rng.choice(T.SPEED_PHRASES).format(speed=say_quantity(value, unit, rng, words=0.05))
    return text, {"speed": value, "speed_unit": unit}


def _attach(text: str, modifier: str, rng) -> str:
    if not modifier:
        return text
    if modifier.endswith("ly") and rng.random() < 0.3:  # adverb first: "slowly back up 2 m"
        return f"{modifier} {text}"
    return f"{text} {modifier}"


# --------------------------------------------------------------------------
# Clauses: one template -> (text, actions)
# --------------------------------------------------------------------------

class _Builder:
    def __init__(self, rng: random.Random, split_ids: set[str]):
        self.rng = rng
        self.templates = {c: [t for t in ts if t.id in split_ids]
                          for c, ts in all_templates().items()}

    def template(self, category: str) -> Template:
        return self.rng.choice(self.templates[category])

    def clause(self, category: str, tpl: Template | None = None, mod_prob: float = MODIFIER_PROB,
               over: bool = False):
        """One plain clause (no politeness) and its actions. Motions are resampled until
        the planner accepts them (or, for `over`, until it refuses them)."""
        tpl = tpl or self.template(category)
        for _ in range(100):
            text, actions = getattr(self, f"_{category}")(tpl, mod_prob, over)
            if category != "sequence":  # a sequence's clauses were checked one by one
                check_copied(text, actions, category)
            if category not in ("move", "turn", "turn_named", "timed_move", "timed_turn", "shape"):
                return tpl, text, actions
            if isinstance(plan_twists(actions), PlanError) == over:
                return tpl, text, actions
        raise RuntimeError(f"cannot sample a {'refused' if over else 'valid'} {tpl.id}")

    def _move(self, tpl, mod_prob, over):
        rng = self.rng
        word, sign = _direction(rng, True)
        sign = tpl.extra or sign
        value, unit = sample_distance(rng, over and rng.random() < 0.85)
        modifier, fields = _modifier(rng, True, 1.0 if over else mod_prob)
        text = tpl.text.format(ldir=word, dist=say_quantity(value, unit, rng))
        return _attach(text, modifier, rng), [Move(sign * value, unit, **fields)]

    def _turn(self, tpl, mod_prob, over):
        rng = self.rng
        word, sign = _direction(rng, False)
        sign = tpl.extra or sign
        value, unit = sample_angle(rng, over)
        bare = unit == "deg" and rng.random() < 0.06  # "turn left 90" means degrees
        modifier, fields = _modifier(rng, False, mod_prob)
        text = tpl.text.format(adir=word, angle=say_quantity(value, unit, rng, bare=bare))
        return _attach(text, modifier, rng), [Turn(sign * value, unit, **fields)]

    def _turn_named(self, tpl, mod_prob, over):
        modifier, fields = _modifier(self.rng, False, mod_prob)
        return _attach(tpl.text, modifier, self.rng), [Turn(tpl.extra, "deg", **fields)]

    def _timed(self, tpl, mod_prob, over, linear):
        rng = self.rng
        word, sign = _direction(rng, linear)
        sign = tpl.extra or sign
        value, unit = sample_duration(rng, over)
        modifier, fields = _modifier(rng, linear, mod_prob)
        direction = {(True, 1): "forward", (True, -1): "backward",
                     (False, 1): "left", (False, -1): "right"}[(linear, sign)]
        text = tpl.text.format(ldir=word, adir=word, dur=say_quantity(value, unit, rng))
        return _attach(text, modifier, rng), [TimedMove(value, direction, unit, **fields)]

    def _timed_move(self, tpl, mod_prob, over):
        return self._timed(tpl, mod_prob, over, True)

    def _timed_turn(self, tpl, mod_prob, over):
        return self._timed(tpl, mod_prob, over, False)

    def _shape(self, tpl, mod_prob, over):
        rng = self.rng
        sides, sign = tpl.extra
        unit = _pick(rng, {"m": 5, "cm": 2, "ft": 2})
        value = rng.choice({"m": [0.5, 1, 1, 1.5, 2, 3], "cm": [30, 50, 75, 100],
                            "ft": [1, 2, 3, 5]}[unit])
        text = tpl.text.format(dist=say_quantity(value, unit, rng))
        name = next(name for name, n in SHAPE_SIDES.items() if n == sides)
        return text, [Shape(name, value, unit, sign)]  # code computes the turns, not the model

    def _sequence(self, tpl, mod_prob, over):
        rng = self.rng
        slots = ["a", "b", "c"][: 3 if "{c}" in tpl.text else 2]
        texts, actions = {}, []
        for i, slot in enumerate(slots):
            last = i == len(slots) - 1
            category = "stop" if last and rng.random() < 0.06 else _pick(rng, CLAUSE_WEIGHTS)
            _, text, clause_actions = self.clause(category, mod_prob=0.15)
            texts[slot] = text
            actions += clause_actions
        return tpl.text.format(**texts), actions

    def _stop(self, tpl, mod_prob, over):
        return tpl.text, [Stop()]

    def _navigate(self, tpl, mod_prob, over):
        phrase, name = _place(self.rng)
        return tpl.text.format(place=phrase), [Navigate(name)]

    def _status_battery(self, tpl, mod_prob, over):
        return tpl.text, [Status("battery")]

    def _status_obstacles(self, tpl, mod_prob, over):
        return tpl.text, [Status("obstacles")]

    def refusal(self, category: str):
        rng = self.rng
        tpl = self.template(category)
        slots = {"fwd": rng.choice(T.FORWARD_WORDS), "ldir": _direction(rng, True)[0],
                 "adir": _direction(rng, False)[0], "obj": rng.choice(T.OBJECTS),
                 "gib": _gibberish(rng), "n": rng.choice([1, 2, 3, 5, 10, 20, 30, 45, 90]),
                 "dist": say_quantity(*sample_distance(rng), rng)}
        if category == "refuse_unclear":  # a bare number: a distance without a unit
            slots["n"] = say_number(rng.choice([1, 2, 3, 5, 10, 0.5, 20]), rng, words=0.3)
        elif category == "refuse_unsafe_speed":
            slots["n"] = rng.choice([20, 30, 50, 80, 100, 120, 200])
        elif category == "refuse_injection":
            slots["n"] = rng.randint(1000, 9999)
        if "{motion}" in tpl.text:
            base = _pick(rng, {"move": 6, "turn": 3, "timed_move": 2})
            slots["motion"] = self.clause(base, mod_prob=0.0 if "speed" in category else 0.2)[1]
        return tpl, tpl.text.format(**slots), [Refuse(REFUSAL_REASONS[REFUSAL_CATEGORIES[category]])]


# --------------------------------------------------------------------------
# Surface noise: politeness, typos, casing, punctuation
# --------------------------------------------------------------------------

_KEYBOARD_NEIGHBOURS = dict(zip("qwertyuiopasdfghjklzxcvbnm", [
    "wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "ol", "qsz", "awdx", "sefc",
    "drgv", "fthb", "gyjn", "hukm", "jil", "kop", "zxs", "xcd", "cvf", "vbg", "bnh", "nmj", "mk"]))
_NUMBER_WORDS = set(ONES) | set(TENS) | {"hundred", "half", "quarter"}


def add_typo(text: str, rng, protected=frozenset()) -> str:
    """One realistic typo (swap, drop, double or neighbouring key) in a word of 4+ letters
    that is not a number or a protected word (place names are copied into targets)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words)
                  if len(w) >= 4 and w.isalpha() and w.lower() not in _NUMBER_WORDS
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


def dress(text: str, category: str, rng, protected=frozenset()) -> str:
    """Politeness, typos, casing and end punctuation, as people type commands."""
    if category in T.VERBATIM_CATEGORIES:
        return text[0].upper() + text[1:] if rng.random() < 0.3 else text
    question = category in T.QUESTION_CATEGORIES
    polite_question = False
    if not question and rng.random() < POLITE_PROB:
        if rng.random() < 0.6:
            prefix = rng.choice(T.POLITE_PREFIXES)
            polite_question = prefix.rstrip().endswith("you")
            text = prefix + text
        else:
            text = text + rng.choice(T.POLITE_SUFFIXES)
    elif question and rng.random() < 0.35:
        if rng.random() < 0.6:
            text = rng.choice(T.QUESTION_PREFIXES) + text
        else:
            text = text + rng.choice(T.QUESTION_SUFFIXES)
    if rng.random() < TYPO_PROB:
        text = add_typo(text, rng, protected)
    roll = rng.random()
    shout = 0.3 if category == "stop" else 0.04
    if roll < shout:
        return text.upper() + rng.choice(["!", "!!", "!!!", ""] if category == "stop" else ["", "!"])
    if roll < shout + 0.3:
        text = text[0].upper() + text[1:]
    elif roll < shout + 0.34:
        text = string.capwords(text)
    if question or polite_question:
        return text + ("?" if rng.random() < 0.6 else "")
    return text + rng.choice(["", "", "", ".", ".", "!"] if category != "stop" else ["", "!", "."])


# --------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------

def make_row(command: str, actions, category: str, template_id: str, split: str) -> dict:
    return {
        "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                     {"role": "user", "content": command},
                     {"role": "assistant", "content": render_response(actions)}],
        "intent": intent_of(actions),
        "category": category,
        "actions": [action_to_dict(a) for a in actions],
        "template_id": template_id,
        "split": split,
    }


def seed_examples() -> list[dict]:
    """The tutorial's five instructions, always in the training split."""
    return [make_row(command, actions, category, f"seed/{i}", "train")
            for i, (command, category, actions) in enumerate(SEED_EXAMPLES)]


def check_copied(command: str, actions, category: str) -> None:
    """Every number in the target must be said in the command (the copy rule).
    Named turns and shapes carry fixed angles ("turn around", "a square")."""
    said = mentioned_numbers(command)
    for action in expand_actions(actions):  # a shape's side is copied, its angle is not
        for name in ("distance", "angle", "duration", "speed"):
            value = getattr(action, name, None)
            if value is None or (name == "angle" and category in ("turn_named", "shape")):
                continue
            if abs(value) not in said:
                raise AssertionError(f"{name} {value} of {action} is not in {command!r}")


def generate_dataset(n: int = 5000, seed: int = 0, heldout_fraction: float = 0.15,
                     exclude=()) -> dict[str, list[dict]]:
    """`n` rows in all (the five seed examples included), split into train and heldout
    by template. Deterministic for a seed. `exclude`: commands never to emit (for
    example an evaluation set), compared after `normalise_command`."""
    if n < len(SEED_EXAMPLES):
        raise ValueError(f"n must be at least {len(SEED_EXAMPLES)}")
    if not 0 < heldout_fraction < 1:
        raise ValueError("heldout_fraction must be between 0 and 1")
    rng = random.Random(seed)
    splits = split_templates(seed, heldout_fraction)
    builders = {split: _Builder(rng, ids) for split, ids in splits.items()}
    place_words = frozenset(w for name, _ in T.PLACES for w in name.split())
    rows = {"train": seed_examples(), "heldout": []}
    seen = {normalise_command(c) for c, _, _ in SEED_EXAMPLES}
    seen |= {normalise_command(c) for c in exclude}
    weights = dict(CATEGORY_WEIGHTS)
    misses = Counter()
    while sum(map(len, rows.values())) < n and weights:
        category = _pick(rng, weights)
        split = "heldout" if rng.random() < heldout_fraction else "train"
        builder = builders[split]
        if category in REFUSAL_CATEGORIES:
            tpl, text, actions = builder.refusal(category)
        elif category == "over_limit":
            tpl, text, actions = builder.clause(_pick(rng, OVER_LIMIT_BASES), over=True)
        else:
            tpl, text, actions = builder.clause(category)
        command = dress(text, category, rng, place_words)
        key = normalise_command(command)
        if key in seen or len(command.split()) > MAX_WORDS:
            misses[category] += 1
            if misses[category] > 300:  # this category's phrasings are used up
                del weights[category]
            continue
        seen.add(key)
        rows[split].append(make_row(command, actions, category, tpl.id, split))
    return rows


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_dataset(splits: dict[str, list[dict]], out_dir, extra_stats: dict | None = None) -> dict:
    """out_dir/{train,heldout}.jsonl and stats.json; returns {name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, stats = {}, {"response_format_version": RESPONSE_FORMAT_VERSION, **(extra_stats or {}),
                        "splits": {}}
    for split, rows in splits.items():
        path = out / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths[split] = path
        stats["splits"][split] = {
            "rows": len(rows), "sha256": file_sha256(path),
            "templates": len({r["template_id"] for r in rows}),
            "intents": dict(sorted(Counter(r["intent"] for r in rows).items())),
            "categories": dict(sorted(Counter(r["category"] for r in rows).items())),
        }
    paths["stats"] = out / "stats.json"
    paths["stats"].write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return paths


def read_commands(path) -> list[str]:
    """Commands of a JSONL file with a "command" field or chat messages (for --exclude)."""
    from training.data.loaders import load_conversations

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if rows and all("command" in r for r in rows):
        return [r["command"] for r in rows]
    return [m["content"] for r in load_conversations(str(path)) for m in r["messages"]
            if m["role"] == "user"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/robot_commands", help="output directory")
    parser.add_argument("--n", type=int, default=5000, help="rows in all (train + heldout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout-fraction", type=float, default=0.15)
    parser.add_argument("--exclude", action="append", default=[], metavar="JSONL",
                        help="never emit these commands (e.g. an evaluation set); repeatable")
    args = parser.parse_args(argv)
    exclude = [c for path in args.exclude for c in read_commands(path)]
    splits = generate_dataset(args.n, args.seed, args.heldout_fraction, exclude)
    paths = write_dataset(splits, args.out, {"n": args.n, "seed": args.seed,
                                             "heldout_fraction": args.heldout_fraction,
                                             "excluded_commands": len(exclude)})
    stats = json.loads(paths["stats"].read_text())
    for split, s in stats["splits"].items():
        print(f"{split}: {s['rows']} rows from {s['templates']} templates -> {paths[split]}")
        print("  " + ", ".join(f"{k} {v}" for k, v in s["intents"].items()))
    print(f"stats: {paths['stats']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

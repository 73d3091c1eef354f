"""Motion commands composed from components, with their actions.

The model learned sentences, not meanings: 95 % on held-out templates, 59.6 % on commands
written elsewhere (issue 12). So motion commands are built here by crossing components
(`phrases.py`): a clause frame (word order), a verb, a direction phrase, a quantity phrase,
maybe a speed or pace (before or after the motion), joined by connectors into sequences,
with an opening and a closing, in one of six styles (plain, terse, spoken, formal,
long-winded, non-native). The actions come from the same choices (copy, don't compute:
every number in a target is said in its clause, `check_copied`).

The refused kinds are composed the same way, so a refusal shares its words with a motion
and only the decisive part differs: a speed with no bound, "until ...", a lateral
direction on a straight move, a curve, a circle, a wall to follow. A sequence with one
such part is refused whole.

Held-out split by component: `split_components` hides about `fraction` of each family
(never the CORE words). Train rows use none of them; every held-out row uses at least
one, so the held-out score measures phrasings with a part never trained on. Pure Python.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from robot_sft.response_format import (
    REFUSAL_REASONS, DefaultTurn, Move, Refuse, TimedMove, Turn, expand_actions, render_response,
)
from robot_sft.grounding import FIXED_LINE_CUES, PACE_CUES
from robot_sft.safety import PlanError, plan_twists
from training.data import noise, phrases as P
from training.data.numbers import UNIT_SPELLINGS, mentioned_numbers, say_quantity
from training.data.sampling import (
    pick, sample_angle, sample_distance, sample_duration, sample_speed,
)
from training.data.templates import (
    NUMBERED_PLACES as P_NUMBERED_PLACES, OBJECTS as P_OBJECTS, PLACES as P_PLACES,
)

FAMILIES: dict[str, list] = {name: value for name, value in vars(P).items()
                             if name.isupper() and isinstance(value, list)}

CORE = P.CORE  # never held out
STYLES = {"plain": 0.28, "terse": 0.16, "spoken": 0.12, "formal": 0.1, "long": 0.2,
          "nonnative": 0.14}
MAX_WORDS = {"plain": 24, "terse": 16, "spoken": 28, "formal": 28, "long": 38, "nonnative": 24}
# Command + target characters: keeps every row under the recipe's max_length of 96 tokens
# (the longest of 20,000 rows: 94 tokens with this cap, 97 without it).
MAX_ROW_CHARS = 250
# Clauses of a sequence (stop only ever comes last).
CLAUSE_WEIGHTS = {"move": 0.30, "turn": 0.19, "default_turn": 0.13, "named_turn": 0.06,
                  "timed_move": 0.09, "timed_turn": 0.04, "navigate": 0.09,
                  "status_battery": 0.03, "status_obstacles": 0.03}
SEQUENCE_REFUSAL = 0.2       # share of sequences with one refused part (refused whole)
MODIFIER_PROB = 0.3          # motions with a pace word or a speed
TIMED_SPEED_PROB = 0.45      # timed motions with one ("at 0.5 m/s for 10 s")
MOVE_SPEED_SHARE = 0.7       # of a move's modifiers, a speed in numbers (the rest a pace word)
HELD_OUT_DRAW = 0.35         # a held-out row draws a hidden component this often per choice
# Sequences of a leg, a turn said by side or by name, and a leg ("go forward 5 ft, turn
# left, and go 5 more feet"; "... turn around ..."): few arise from independent draws.
LEG_TURN_LEG = 0.2
LEG_TURN = {"default_turn": 0.55, "named_turn": 0.3, "turn": 0.15}  # the turn beside a leg
# Of the other sequences, a turn and then a leg ("turn right and go 2 m", "right, fwd 2m"),
# the commonest way people steer: from independent draws a turn with no angle came first in
# 28 of 2,529 rows, and every draw refused "turn right, then move forward 2 m" as unsupported.
TURN_THEN_LEG = 0.3
LEG = {"move": 0.8, "timed_move": 0.2}
# Terse frames (a terse clause has one word order, the first frame that fits, except these:
# a speed before the amount, "fwd 0.5 m/s 10 s", "bk @0.3m/s 2m").
TERSE_FRAMES = {"MOVE_FRAME": ["{verb} {dir} {dist}", "{verb} {dir} {speed} {dist}"],
                "TURN_FRAME": ["{tverb} {dir} {angle}", "{tverb} {dir} {speed} {angle}"],
                "TIMED_MOVE_FRAME": ["{verb} {dir} {dur}", "{verb} {dir} {speed} {dur}"],
                "TIMED_TURN_FRAME": ["{tverb} {dir} {dur}", "{tverb} {dir} {speed} {dur}"]}
# Clauses run on with no connector, as speech is transcribed and people type ("go forward two
# meters turn right then ..."): every draw of the recipe without them refused such sequences
# as unsupported. Only between clauses with no speed or pace, which would attach to either.
RUN_ON = {"spoken": 0.35, "nonnative": 0.12, "plain": 0.08}
# Per style, how often a command says why it is given (phrases.CONTEXT_BEFORE / _AFTER).
CONTEXT = {"plain": 0.12, "terse": 0.0, "spoken": 0.25, "formal": 0.15, "long": 0.45,
           "nonnative": 0.15}
TERSE_GLUE = 0.35            # terse side letters glued to the angle: "L45", "R90deg", "rt45°"
_GLUE = re.compile(r"(?<![\w])(L|R|l|r|lt|rt) (?=\d)")

# Per style: which family plays each role (a tuple: drawn among them).
_ROLES = {
    "verb": "MOVE_VERB", "tverb": "TURN_VERB", "dtverb": "DEFAULT_TURN_VERB",
    "forward": "FORWARD", "backward": "BACKWARD", "left": "LEFT", "right": "RIGHT",
    "dist": "DISTANCE", "angle": "ANGLE", "dur": "DURATION", "speed": "SPEED",
    "joiner": "JOINER", "preamble": "PREAMBLE",
}
_STYLE_ROLES = {
    "terse": {"verb": "TERSE_MOVE_VERB", "tverb": "TERSE_TURN_VERB",
              "dtverb": "TERSE_DEFAULT_TURN_VERB",
              "forward": "TERSE_FORWARD", "backward": "TERSE_BACKWARD", "left": "TERSE_LEFT",
              "right": "TERSE_RIGHT", "dist": None, "angle": None, "dur": "TERSE_DURATION",
              "speed": "TERSE_SPEED", "joiner": "TERSE_JOINER", "preamble": None},
    "spoken": {"joiner": "SPOKEN_JOINER", "preamble": "SPOKEN_PREAMBLE"},
    "formal": {"preamble": "FORMAL_PREAMBLE"},
    "long": {"joiner": ("LONG_JOINER", "JOINER"), "preamble": "LONG_PREAMBLE"},
    "nonnative": {"verb": ("NN_MOVE_VERB", "MOVE_VERB"), "tverb": ("NN_TURN_VERB", "TURN_VERB"),
                  "dtverb": ("NN_TURN_VERB", "DEFAULT_TURN_VERB"),
                  "forward": ("NN_FORWARD", "FORWARD"), "backward": ("NN_BACKWARD", "BACKWARD"),
                  "left": ("NN_LEFT", "LEFT"), "right": ("NN_RIGHT", "RIGHT"),
                  "dist": ("NN_DISTANCE", "DISTANCE"), "angle": ("NN_ANGLE", "ANGLE"),
                  "dur": ("NN_DURATION", "DURATION"), "speed": ("NN_SPEED", "SPEED"),
                  "joiner": ("NN_JOINER", "JOINER"), "preamble": "NN_PREAMBLE"},
}
# How each style says a quantity (numbers.say_quantity options).
_SAY = {"plain": {}, "terse": {"words": 0.0, "abbreviate": 1.0, "attach": 0.7},
        "spoken": {"words": 0.6, "abbreviate": 0.0}, "formal": {"words": 0.25, "abbreviate": 0.1},
        "long": {"words": 0.2, "abbreviate": 0.2}, "nonnative": {"words": 0.1}}


def _text(entry) -> str:
    return entry[0] if isinstance(entry, tuple) else entry


def split_components(seed: int = 0, fraction: float = 0.15) -> frozenset[str]:
    """Held-out component ids "<FAMILY>/<index>": per family, the non-CORE entries whose
    seeded hash ranks lowest, round(fraction * size) of them, at least one left to train."""
    held = set()
    for family, entries in FAMILIES.items():
        ids = [i for i, e in enumerate(entries) if _text(e) not in CORE.get(family, ())]
        ids.sort(key=lambda i: hashlib.sha256(f"{seed}:{family}/{i}".encode()).digest())
        k = min(round(len(entries) * fraction), len(ids), len(entries) - 1)
        held.update(f"{family}/{i}" for i in ids[:k])
    return frozenset(held)


# ---------------------------------------------------------------- gerunds ("followed by turning")

_VERBS = {w.split()[0] for family in ("MOVE_VERB", "VERB_FORWARD", "VERB_BACKWARD", "COVER_VERB",
                                      "TURN_VERB", "DEFAULT_TURN_VERB", "TAKE", "MAKE",
                                      "KEEP_MOVING", "KEEP_TURNING", "SIDESTEP")
          for w in FAMILIES[family]} | {
    "zigzag", "zig-zag", "weave", "slalom", "circle", "orbit", "curve", "arc", "swerve", "follow",
    "patrol", "trace", "hug", "wall-follow", "face", "cut", "stop", "halt", "freeze", "brake",
    "hold", "stand", "stay", "abort", "cancel", "pause", "kill", "end", "quit", "wait", "report",
    "check", "give", "show", "tell", "scan", "return", "find", "set", "come", "relocate", "route",
    "plan", "draw", "head", "go", "apply", "cease", "bring", "get"}
_DOUBLED = {"spin", "step", "get", "run", "stop", "hug", "cut", "crab", "zigzag", "zig-zag",
            "patrol", "set", "plan"}


def _ing(verb: str) -> str:
    if verb in _DOUBLED:
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and verb != "be":
        return verb[:-1] + "ing"
    return verb + "ing"


def gerund(text: str) -> str | None:
    """"back up 2 m" -> "backing up 2 m"; None when the text does not start with a verb."""
    words = text.split(" ")
    if words[0].lower() not in _VERBS:
        return None
    words[0] = _ing(words[0].lower())
    for i in range(1, len(words) - 1):  # "reverse your direction and travel"
        if words[i] == "and" and words[i + 1] in _VERBS:
            words[i + 1] = _ing(words[i + 1])
    return " ".join(words)


# ---------------------------------------------------------------- clauses

@dataclass
class Clause:
    text: str
    actions: list
    refusal: str | None = None  # a REFUSAL_REASONS key: the clause must be refused
    named: bool = False         # angle from the lexicon or the default turn (not copied)
    unsided: str | None = None  # "linear"/"rotation": no direction said, the policy's default

    @property
    def ing(self) -> str | None:
        return gerund(self.text)


def check_copied(command: str, actions, named: bool = False) -> None:
    """Every number in the target must be said in the command (the copy rule). Named turns
    and shapes carry fixed angles ("turn around", "a square")."""
    said = mentioned_numbers(command)
    for action in expand_actions(actions):
        for name in ("distance", "angle", "duration", "speed"):
            value = getattr(action, name, None)
            if value is None or (name == "angle" and named):
                continue
            if abs(value) not in said:
                raise AssertionError(f"{name} {value} of {action} is not in {command!r}")


_SLOT = re.compile(r"\{(\w+)\}")


@dataclass
class Composer:
    """Builds composed rows for one split. `heldout`: the hidden component ids; `new`: a
    held-out row (must use one) or a train row (must use none). `template_clause(category)`
    gives (template id, text, actions) for the template categories a sequence may contain
    (navigate, status, stop)."""

    rng: object
    heldout: frozenset
    new: bool
    template_clause: object = None
    style: str = "plain"
    used: list = field(default_factory=list)

    # ---- drawing components
    def pick(self, family: str):
        entries = FAMILIES[family]
        hidden = [i for i in range(len(entries)) if f"{family}/{i}" in self.heldout]
        pool = hidden if self.new and hidden and self.rng.random() < HELD_OUT_DRAW else \
            [i for i in range(len(entries)) if f"{family}/{i}" not in self.heldout]
        i = self.rng.choice(pool)
        self.used.append(f"{family}/{i}")
        return entries[i]

    def role(self, role: str):
        """The component for `role` in this row's style; None where the style has none."""
        family = _STYLE_ROLES.get(self.style, {}).get(role, _ROLES[role])
        if isinstance(family, tuple):
            family = family[0] if self.rng.random() < 0.6 else family[1]
        return None if family is None else self.pick(family)

    def used_new(self) -> bool:
        return any(c in self.heldout for c in self.used)

    # ---- quantities
    def say(self, value, unit, bare_ok=False) -> str:
        options = dict(_SAY[self.style])
        if self.style == "nonnative":
            options["singular"] = self.rng.random() < 0.5
        bare = bare_ok and unit == "deg" and self.rng.random() < (0.3 if self.style == "terse" else 0.06)
        return say_quantity(value, unit, self.rng, bare=bare, **options)

    def quantity(self, role: str, value, unit) -> str:
        phrase = self.role(role) or "{q}"
        said = self.say(value, unit, bare_ok=role == "angle")
        if phrase in ("another {q}", "a further {q}") and said.startswith(("a ", "an ")):
            return said  # not "another a foot"
        if phrase == "{q} more" and re.fullmatch(r"\S+ [a-z]+", said) \
                and not said.startswith(("a ", "an ")) and self.rng.random() < 0.7:
            number, unit_word = said.split(" ")  # "five more feet"
            return f"{number} more {unit_word}"
        return phrase.format(q=said)

    def modifier(self, linear: bool, prob: float, numeric: float = 0.35, over: bool = False):
        """(text, fields, is_numeric) for a pace word or a speed; ("", {}, False) for none."""
        rng = self.rng
        if not over and rng.random() >= prob:
            return "", {}, False
        if over or rng.random() < numeric:
            value, unit = sample_speed(rng, linear, over=over)
            options = {**_SAY[self.style], "words": 0.05 if self.style != "spoken" else 0.3}
            text = (self.role("speed") or "at {q}").format(q=say_quantity(value, unit, rng, **options))
            return text, {"speed": value, "speed_unit": unit}, True
        if self.style == "terse":
            return ("slow", {"pace": "slow"}, False) if rng.random() < 0.5 else \
                ("fast", {"pace": "fast"}, False)
        slow = rng.random() < 0.55
        return self.pick("SLOW" if slow else "FAST"), {"pace": "slow" if slow else "fast"}, False

    def place(self, text: str, modifier: str, numeric: bool, frame_took_it: bool) -> str:
        """Put a speed or pace before or after the motion ("at 0.3 m/s, drive 2 m")."""
        if not modifier or frame_took_it:
            return text
        front = self.style in ("plain", "formal", "long") and gerund(text) is not None \
            and self.rng.random() < (0.2 if numeric else 0.3)
        if front:
            return f"{modifier}, {text}" if numeric else f"{modifier} {text}"
        comma = "," if numeric and self.style in ("formal", "long") and self.rng.random() < 0.4 else ""
        return f"{text}{comma} {modifier}"

    def frame(self, family: str, ok=lambda f: True) -> str:
        if self.style == "terse":
            frames = [f for f in TERSE_FRAMES.get(family, ()) if ok(f)]
            if frames:
                return self.rng.choice(frames)
            frames = [f for f in FAMILIES[family] if ok(f)]
            return frames[0]
        for _ in range(50):
            f = self.pick(family)
            if ok(f):
                return f
            self.used.pop()
        raise RuntimeError(f"no frame of {family} fits")

    def fill(self, frame: str, slots: dict) -> str:
        def one(m):
            value = slots[m.group(1)]
            return value() if callable(value) else value
        text = " ".join(_SLOT.sub(one, frame).split()).replace(" ,", ",")
        return re.sub(r"\b[Aa]n? (an? )", r"\1", text)  # "do a a hundred and twenty degrees spin"

    def side_slots(self, sign: int, linear: bool = False) -> dict:
        left = sign > 0
        return {"dir": lambda: self.role(("forward" if left else "backward") if linear
                                         else ("left" if left else "right")),
                "adj": lambda: self.pick("LEFT_ADJ" if left else "RIGHT_ADJ"),
                "side": "left" if left else "right"}

    # ---- motions
    def move(self, over: bool = False, prob: float = MODIFIER_PROB) -> Clause:
        rng = self.rng
        # A distance at a speed is the tutorial's own form ("Move forward 2 meters at 0.25
        # m/s") and the one a refused speed-only command ("move forward at 0.5 m/s") differs
        # from by the distance alone: at 0.35 it was 35 of 2,566 rows, and one draw refused
        # every such command as unbounded.
        mod, fields, numeric = self.modifier(True, prob, numeric=MOVE_SPEED_SHARE,
                                             over=over and rng.random() >= 0.85)
        value, unit = sample_distance(rng, over and "speed" not in fields)
        sign = 1 if rng.random() < 0.65 else -1
        frame = self.frame("MOVE_FRAME", lambda f: ("{speed}" in f) <= numeric and (
            sign > 0 or "{dir}" in f or "{fverb}" in f))
        slots = {**self.side_slots(sign, linear=True), "verb": lambda: self.role("verb"),
                 "fverb": lambda: self.pick("VERB_FORWARD" if sign > 0 else "VERB_BACKWARD"),
                 "dist": lambda: self.quantity("dist", value, unit),
                 "cover": lambda: self.pick("COVER_VERB"), "moving": lambda: self.pick("PARTICIPLE"),
                 "speed": mod}
        text = self.place(self.fill(frame, slots), mod, numeric, "{speed}" in frame)
        return Clause(text, [Move(sign * value, unit, **fields)], unsided=_unsided(frame, "linear"))

    def turn(self, over: bool = False, prob: float = MODIFIER_PROB) -> Clause:
        rng = self.rng
        mod, fields, numeric = self.modifier(False, prob, numeric=0.25)
        value, unit = sample_angle(rng, over)
        sign = 1 if rng.random() < 0.5 else -1
        frame = self.frame("TURN_FRAME", lambda f: ("{speed}" in f) <= numeric and (
            sign > 0 or "{dir}" in f or "{adj}" in f))
        slots = {**self.side_slots(sign), "tverb": lambda: self.role("tverb"),
                 "angle": lambda: self.quantity("angle", value, unit),
                 "q": lambda: self.say(value, unit), "make": lambda: self.pick("MAKE"),
                 "noun": lambda: self.pick("TURN_NOUN"), "speed": mod}
        text = self.place(self.fill(frame, slots), mod, numeric, "{speed}" in frame)
        if self.style == "terse" and rng.random() < TERSE_GLUE:
            text = _GLUE.sub(r"\1", text)
        return Clause(text, [Turn(sign * value, unit, **fields)], unsided=_unsided(frame, "rotation"))

    def default_turn(self, over: bool = False, prob: float = MODIFIER_PROB) -> Clause:
        """A side and no angle: `Turn left.` (90 deg), never an invented number. Paces only:
        "turn left at 0.3 rad/s" could mean a rotation with no end."""
        rng = self.rng
        mod, fields, _ = self.modifier(False, prob / 2, numeric=0.0)
        sign = 1 if rng.random() < 0.5 else -1
        frame = self.frame("DEFAULT_TURN_FRAME")
        slots = {**self.side_slots(sign), "dtverb": lambda: self.role("dtverb"),
                 "take": lambda: self.pick("TAKE"), "make": lambda: self.pick("MAKE")}
        text = self.place(self.fill(frame, slots), mod, False, False)
        return Clause(text, [DefaultTurn(sign, **fields)], named=True)

    def named_turn(self, over: bool = False, prob: float = MODIFIER_PROB) -> Clause:
        """The named-turn lexicon, left unless a side is said ("turn around to the right")."""
        rng = self.rng
        mod, fields, _ = self.modifier(False, prob / 2, numeric=0.0)
        sign = 1 if rng.random() < 0.5 else -1
        frame = self.frame("NAMED_FRAME", lambda f: sign > 0 or "{dir}" in f or "{adj}" in f)
        chosen = {}

        def named(family):
            def draw():
                chosen["text"], chosen["deg"] = self.pick(family)
                return chosen["text"]
            return draw
        slots = {**self.side_slots(sign), "named": named("NAMED_TURN"),
                 "nnoun": named("NAMED_NOUN"), "make": lambda: self.pick("MAKE")}
        text = self.place(self.fill(frame, slots), mod, False, False)
        return Clause(text, [Turn(sign * chosen["deg"], "deg", **fields)], named=True,
                      unsided=_unsided(frame, "rotation"))

    def timed(self, linear: bool, over: bool = False, prob: float = TIMED_SPEED_PROB) -> Clause:
        rng = self.rng
        mod, fields, numeric = self.modifier(linear, prob, numeric=0.7)
        value, unit = sample_duration(rng, over)
        sign = 1 if rng.random() < (0.65 if linear else 0.5) else -1
        family = "TIMED_MOVE_FRAME" if linear else "TIMED_TURN_FRAME"
        frame = self.frame(family, lambda f: ("{speed}" in f) <= numeric and (
            sign > 0 or "{dir}" in f or "{fverb}" in f))
        slots = {**self.side_slots(sign, linear), "verb": lambda: self.role("verb"),
                 "tverb": lambda: self.role("tverb"),
                 "fverb": lambda: self.pick("VERB_FORWARD" if sign > 0 else "VERB_BACKWARD"),
                 "dur": lambda: self.quantity("dur", value, unit),
                 "keep": lambda: self.pick("KEEP_MOVING"), "tkeep": lambda: self.pick("KEEP_TURNING"),
                 "moving": lambda: self.pick("PARTICIPLE"), "speed": mod}
        text = self.place(self.fill(frame, slots), mod, numeric, "{speed}" in frame)
        direction = {(True, 1): "forward", (True, -1): "backward", (False, 1): "left",
                     (False, -1): "right"}[(linear, sign)]
        return Clause(text, [TimedMove(value, direction, unit, **fields)],
                      unsided=_unsided(frame, "linear" if linear else "rotation"))

    def timed_move(self, over=False, prob=TIMED_SPEED_PROB) -> Clause:
        return self.timed(True, over, prob)

    def timed_turn(self, over=False, prob=TIMED_SPEED_PROB) -> Clause:
        return self.timed(False, over, prob)

    # ---- refused motions
    def _refused_slots(self) -> dict:
        rng = self.rng
        sign = 1 if rng.random() < 0.7 else -1
        side = 1 if rng.random() < 0.5 else -1

        def speed(linear):
            def draw():
                value, unit = sample_speed(rng, linear)
                return (self.role("speed") or "at {q}").format(
                    q=say_quantity(value, unit, rng, **{**_SAY[self.style], "words": 0.05}))
            return draw
        return {
            "verb": lambda: self.role("verb"), "dir": lambda: self.role(
                "forward" if sign > 0 else "backward"),
            "fverb": lambda: self.pick("VERB_FORWARD" if sign > 0 else "VERB_BACKWARD"),
            "tverb": lambda: self.role("tverb"), "tdir": lambda: self.role(
                "left" if side > 0 else "right"),
            "speed": speed(True), "aspeed": speed(False),
            "until": lambda: self.pick("UNTIL_WORD"),
            "u": lambda: self.pick("UNTIL").format(obj=rng.choice(P_OBJECTS)),
            "ut": lambda: self.pick("UNTIL_TURN").format(obj=rng.choice(P_OBJECTS)),
            "forever": lambda: self.pick("FOREVER"), "keep": lambda: self.pick("KEEP_MOVING"),
            "tkeep": lambda: self.pick("KEEP_TURNING"), "cover": lambda: self.pick("COVER_VERB"),
            "moving": lambda: self.pick("PARTICIPLE"),
            "lat": lambda: self.pick("LATERAL_LEFT" if side > 0 else "LATERAL_RIGHT"),
            "side": "left" if side > 0 else "right", "side_verb": lambda: self.pick("SIDESTEP"),
            "dist": lambda: self.quantity("dist", *sample_distance(rng)),
            "dur": lambda: self.quantity("dur", *sample_duration(rng)),
            "q": lambda: self.say(*sample_distance(rng)), "diag": lambda: self.pick("DIAGONAL"),
            "area": lambda: self.pick("AREA"), "obj": lambda: rng.choice(P_OBJECTS),
            "make": lambda: self.pick("MAKE"),
        }

    def unbounded(self, over=False, prob=0.0) -> Clause:
        """No bound: a speed only, "until ...", "forever", a bare "go forward"."""
        if self.style == "terse":
            frame = self.rng.choice(["{verb} {dir}", "{verb} {dir} {speed}", "{verb} {dir} {tu}"])
            slots = {**self._refused_slots(), "tu": lambda: self.pick("TERSE_UNTIL")}
            text = self.fill(frame, slots) if frame != "{verb} {dir}" else \
                self.fill(frame, {**slots, "verb": "go"})
        else:
            text = self.fill(self.frame("UNBOUNDED_FRAME"), self._refused_slots())
        return Clause(text, [Refuse(REFUSAL_REASONS["unbounded"])], refusal="unbounded")

    def unsupported(self, over=False, prob=0.0) -> Clause:
        """What a differential base cannot do: sideways, diagonal, zigzag, circles, arcs,
        perimeters, walls, following."""
        text = self.fill(self.frame("UNSUPPORTED_FRAME") if self.style != "terse" else
                         self.rng.choice(["{side_verb} {side} {q}", "strafe {side}",
                                          "circle r {q}", "arc {side} {q}", "zigzag fwd {q}",
                                          "diag fwd-{side} {q}", "follow wall {side}"]),
                         self._refused_slots())
        return Clause(text, [Refuse(REFUSAL_REASONS["unsupported"])], refusal="unsupported")

    # ---- sequences
    def template(self, category: str) -> Clause:
        tpl_id, text, actions = self.template_clause(category)
        self.used.append(tpl_id)
        return Clause(text, actions)

    def clause(self, kind: str, over: bool = False, prob: float = MODIFIER_PROB) -> Clause:
        """One clause, resampled until the planner accepts it (or, `over`, refuses it)."""
        for _ in range(100):
            mark = len(self.used)
            if kind in ("navigate", "status_battery", "status_obstacles", "stop"):
                return self.template(kind)
            c = getattr(self, kind)(over, prob)
            if c.refusal:
                return c
            check_copied(c.text, c.actions, c.named)
            if isinstance(plan_twists(c.actions), PlanError) == over:
                return c
            del self.used[mark:]
        raise RuntimeError(f"cannot sample a {'refused' if over else 'valid'} {kind}")

    def sequence(self, over: bool = False, prob: float = 0.15) -> Clause:
        rng = self.rng
        if rng.random() < LEG_TURN_LEG:
            n, kinds = 3, [pick(rng, LEG), pick(rng, LEG_TURN), pick(rng, LEG)]
        elif rng.random() < TURN_THEN_LEG:
            n, kinds = 2, [pick(rng, LEG_TURN), pick(rng, LEG)]
        else:
            n = 3 if rng.random() < 0.25 else 2
            kinds = [pick(rng, CLAUSE_WEIGHTS) for _ in range(n)]
        if rng.random() < 0.06:
            kinds[-1] = "stop"
        refused_at = rng.randrange(n) if rng.random() < SEQUENCE_REFUSAL else None
        if refused_at is not None:
            kinds[refused_at] = "unbounded" if rng.random() < 0.45 else "unsupported"
        clauses = [self.clause(k, prob=prob) for k in kinds]
        for c in clauses:  # "turn right 90, then turn 45 degrees": which way? Not composed.
            others = " ".join(o.text for o in clauses if o is not c).lower()
            if c.unsided and _OPPOSITE_CUE[c.unsided].search(_LEFT_CLOCKWISE.sub(" ", others)):
                raise _Retry
        text = self.join(clauses)
        refusal = next((c.refusal for c in clauses if c.refusal), None)
        if refusal:  # one refused part refuses the whole command: nothing moves
            return Clause(text, [Refuse(REFUSAL_REASONS[refusal])], refusal=refusal)
        actions = [a for c in clauses for a in c.actions]
        if isinstance(plan_twists(actions), PlanError):
            raise _Retry
        return Clause(text, actions, named=any(c.named for c in clauses))

    def join(self, clauses: list[Clause]) -> str:
        rng, style = self.rng, self.style
        prose = style in ("plain", "formal", "long")
        a, rest = clauses[0], clauses[1:]
        if len(clauses) == 2 and prose and a.ing and rng.random() < 0.08:
            return self.pick("AFTER").format(a=a.text, a_ing=a.ing, b=rest[0].text)
        text = a.text
        if prose and rng.random() < 0.3:
            opener = self.pick("OPENER")
            if "{a_ing}" in opener and not a.ing:
                self.used.pop()
                opener = "{a}"
            text = opener.format(a=a.text, a_ing=a.ing)
        run_on = not any(_paced(a) for c in clauses for a in c.actions)
        for i, b in enumerate(rest):
            last_of_three = len(clauses) == 3 and i == 1
            if run_on and rng.random() < RUN_ON.get(style, 0.0):
                text += " " + b.text
                continue
            joiner = self.pick("FINALLY") if last_of_three and prose and rng.random() < 0.3 \
                else self.role("joiner")
            if "{b_ing}" in joiner and not b.ing:
                self.used.pop()
                joiner = " and then {b}"
            text += joiner.format(b=b.text, b_ing=b.ing)
        return text

    # ---- whole commands
    def command(self, kind: str, over: bool = False) -> tuple[str, Clause]:
        """(command text, clause) for one row: a clause or sequence in a style, with an
        opening, a closing, fillers, casing, punctuation and typos."""
        rng = self.rng
        for _ in range(200):
            self.used = []
            self.style = pick(rng, STYLES)
            try:
                clause = self.clause(kind, over=over) if kind != "sequence" else self.sequence()
            except _Retry:
                continue
            text = self.dress(clause.text)
            if self.new != self.used_new() or len(text.split()) > MAX_WORDS[self.style] \
                    or len(text) + len(render_response(clause.actions)) > MAX_ROW_CHARS:
                continue
            if not clause.refusal:  # the dressed command still says every number
                check_copied(text, clause.actions, clause.named)
            return text, clause
        raise RuntimeError(f"cannot compose a {'held-out' if self.new else 'train'} {kind}")

    def dress(self, text: str) -> str:
        rng, style = self.rng, self.style
        verb_first = gerund(text) is not None
        question = False
        preamble_prob = {"plain": 0.35, "terse": 0.0, "spoken": 0.55, "formal": 0.75, "long": 0.9,
                         "nonnative": 0.4}[style]
        if rng.random() < preamble_prob:
            preamble = self.role("preamble")
            if verb_first or preamble.rstrip().endswith((",", ":")):
                text = preamble + text
                question = preamble.lower().startswith(("could", "can", "would"))
            else:
                self.used.pop()
        if rng.random() < CONTEXT[style]:
            if text[:1].islower() and rng.random() < 0.5:  # not before "The user would ..."
                text = self.pick("CONTEXT_BEFORE") + text
            else:
                text = text.rstrip(".!?") + self.pick("CONTEXT_AFTER")
        if style == "formal":
            text = text + self.pick("FORMAL_SUFFIX")
        elif style == "long":
            text = text + (self.pick("LONG_SUFFIX") if rng.random() < 0.5 else ".")
        elif style in ("plain", "nonnative") and rng.random() < 0.12:
            text = text + self.pick("SUFFIX")
        if style == "spoken":
            return noise.spoken(text, rng, lambda: self.pick("FILLER"), PROTECTED)
        if style in ("formal", "long") or rng.random() < 0.35:
            text = noise.sentence_case(text)
        if style in ("plain", "nonnative", "terse"):
            text += "?" if question and rng.random() < 0.6 else rng.choice(
                ["", "", "", ".", ".", "!"] if style != "terse" else ["", "", "", "."])
        if style != "formal" and rng.random() < 0.12:
            text = noise.add_typo(text, rng, PROTECTED)
        return noise.casing(text, rng, DIRECTION_WORDS, formal=style in ("formal", "long"))


class _Retry(Exception):
    """Internal: draw the row again."""


def _paced(action) -> bool:
    return getattr(action, "speed", None) is not None or getattr(action, "pace", None) is not None


def _unsided(frame: str, axis: str) -> str | None:
    """The axis whose direction the frame leaves to the policy's default (forward, left)."""
    return None if any(s in frame for s in ("{dir}", "{fverb}", "{adj}")) else axis


# A clause that names no direction takes the default (forward, left) only when no other
# part of the command names the opposite; the grounding check reads cues per command.
_LEFT_CLOCKWISE = re.compile(r"(?:counter|anti)[\s-]*clock\s*wise|counter to the clockwise|"
                             r"opposite to clockwise")
_OPPOSITE_CUE = {"linear": re.compile(r"(?<![a-z])(?:back\w*|revers\w*|retreat\w*|behind|rear\w*|"
                                      r"bk|bkwd|bwd|rev)(?![a-z])"),
                 "rotation": re.compile(r"(?<![a-z])(?:right\w*|clock\s*wise|cw|rt|r)(?![a-z])")}


def _words(*families) -> frozenset[str]:
    return frozenset(w for f in families for e in FAMILIES[f]
                     for w in re.split(r"[\s,]+", _text(e).lower()) if w and "{" not in w)


# Words that carry a direction, an amount, a unit, a place or a pace: typos never touch them
# (a typo'd direction or pace would have no cue for the grounding check, so the row would
# teach an answer the robot refuses: "Go ahead 1m solw" -> "... slowly.") and fillers never
# split them ("at high, you know, speed").
PROTECTED = (_words("FORWARD", "BACKWARD", "LEFT", "RIGHT", "LEFT_ADJ", "RIGHT_ADJ", "LATERAL_LEFT",
                    "LATERAL_RIGHT", "VERB_FORWARD", "VERB_BACKWARD", "NAMED_TURN", "NAMED_NOUN",
                    "TERSE_FORWARD", "TERSE_BACKWARD", "TERSE_LEFT", "TERSE_RIGHT", "NN_FORWARD",
                    "NN_BACKWARD", "NN_LEFT", "NN_RIGHT")
             | {w for spellings in UNIT_SPELLINGS.values() for g in spellings for w in g}
             | {w for name, _ in P_PLACES for w in name.split()}  # places are copied
             | {w for name in P_NUMBERED_PLACES for w in re.sub(r"\{\w+\}", " ", name).split()}
             | {w for cues in PACE_CUES.values() for cue in cues for w in cue.split()}
             # a stop or status line after another needs its word ("tn cw -> what's your
             # poer level" taught a battery line the check refuses)
             | {cue for cues in FIXED_LINE_CUES.values() for cue in cues if " " not in cue})
# Words a writer may capitalise ("Turn Clockwise 90 degrees"): the side must not change.
DIRECTION_WORDS = frozenset({
    "left", "right", "clockwise", "counterclockwise", "counter-clockwise", "anticlockwise",
    "anti-clockwise", "forward", "forwards", "backward", "backwards", "ccw", "cw", "leftward",
    "rightward", "ahead", "reverse", "back", "straight"})

"""The response format: the one contract between training and the robot.

`render_response` writes training targets; `parse_response` reads model output.
Both live here so they cannot drift apart. Pure Python: no torch, no rclpy.

Copy, don't compute: every number in a rendered response is copied from the
user's command together with its unit (``Move forward 3 ft.``). Unit
conversion, speeds, durations and signs are computed by `robot_sft.safety`.
Derived numbers that appear in free-form text (the tutorial's
"for 4.0 seconds") are cross-checked against the copied ones, never trusted.

Canonical form, one action per line (so a streaming reader can act on the
first line while the rest is generated)::

    Move forward 2 m.
    Move backward 30 cm at 0.2 m/s.
    Move forward 1 m slowly.
    Turn left 90 deg.
    Turn right 1.5 rad at 0.3 rad/s.
    Turn left.
    Move forward for 3 s.
    Turn left for 2 s quickly.
    Square with 1 m sides, turning left.
    Triangle with 50 cm sides, turning right slowly.
    Stop.
    Navigate to charging station.
    Battery status: {battery}.
    Obstacle report: {obstacles}.
    Cannot comply: only English commands are supported.

A shape line is one action: the model copies the shape name, side length and
turning direction; `Shape.expand` computes the repetitions and the exterior
angle (a square is four times Move 1 m / Turn left 90 deg).

A turn with a side and no angle ("take a left") is `Turn left.`: the command has
no number to copy, so the format says so instead of the model inventing one;
`DefaultTurn.expand` makes it DEFAULT_TURN_DEG (90) degrees.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

RESPONSE_FORMAT_VERSION = "1"

DEFAULT_SYSTEM_PROMPT = (
    "You are a mobile robot controller. Answer each command with the robot "
    "actions, one per line, copying numbers and units from the command."
)

# Conversion factors to SI (m, rad, s, m/s, rad/s). Keys are canonical units.
DISTANCE_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "ft": 0.3048, "in": 0.0254}
ANGLE_UNITS = {"deg": math.pi / 180.0, "rad": 1.0}
TIME_UNITS = {"s": 1.0, "min": 60.0}
LINEAR_SPEED_UNITS = {"m/s": 1.0, "cm/s": 0.01, "ft/s": 0.3048}
ANGULAR_SPEED_UNITS = {"rad/s": 1.0, "deg/s": math.pi / 180.0}

PACES = ("slow", "fast")
STATUS_TOPICS = ("battery", "obstacles")
STATUS_SLOTS = {"battery": "{battery}", "obstacles": "{obstacles}"}
LINEAR_DIRECTIONS = ("forward", "backward")
ANGULAR_DIRECTIONS = ("left", "right")
SHAPE_SIDES = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}  # regular polygons
DEFAULT_TURN_DEG = 90.0  # "Turn left." (a side, no angle): a right angle, as people mean it

# Standard refusal reasons, so training targets use a small fixed vocabulary.
REFUSAL_REASONS = {
    "unsupported": "this robot can only move, turn, stop, navigate and report status",
    "unsafe_speed": "that speed exceeds the safety limits",
    "unbounded": "motion without a bound on distance or time is not allowed",
    "language": "only English commands are supported",
    "injection": "safety rules cannot be overridden",
    "unclear": "the command is unclear, please rephrase it",
}

MAX_RESPONSE_CHARS = 4000


class ActionError(ValueError):
    """An action was constructed with invalid fields."""


def _check_finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ActionError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ActionError(f"{name} must be finite, got {value!r}")
    return float(value)


def _check_speed(action) -> None:
    speed, pace = action.speed, action.pace
    if speed is not None:
        speed = _check_finite("speed", speed)
        object.__setattr__(action, "speed", speed)  # ints become floats: 2 == 2.0 everywhere
        if speed <= 0:
            raise ActionError(f"speed must be positive, got {speed!r}")
    if pace is not None and pace not in PACES:
        raise ActionError(f"pace must be one of {PACES}, got {pace!r}")
    if speed is not None and pace is not None:
        raise ActionError("give either a speed or a pace, not both")


def _check_unit(name: str, unit: str, table: dict) -> None:
    if unit not in table:
        raise ActionError(f"{name} must be one of {sorted(table)}, got {unit!r}")


@dataclass(frozen=True)
class Move:
    """Straight motion. `distance` is signed: positive is forward (REP-103 +x)."""

    distance: float
    unit: str = "m"
    speed: float | None = None  # magnitude, in speed_unit
    speed_unit: str = "m/s"
    pace: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "distance", _check_finite("distance", self.distance))
        _check_unit("unit", self.unit, DISTANCE_UNITS)
        _check_unit("speed_unit", self.speed_unit, LINEAR_SPEED_UNITS)
        _check_speed(self)


@dataclass(frozen=True)
class Turn:
    """Rotation in place. `angle` is signed: positive is left (counter-clockwise, +z)."""

    angle: float
    unit: str = "deg"
    speed: float | None = None
    speed_unit: str = "rad/s"
    pace: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "angle", _check_finite("angle", self.angle))
        _check_unit("unit", self.unit, ANGLE_UNITS)
        _check_unit("speed_unit", self.speed_unit, ANGULAR_SPEED_UNITS)
        _check_speed(self)


@dataclass(frozen=True)
class TimedMove:
    """Motion for a duration: forward/backward drive or left/right rotation."""

    duration: float
    direction: str
    unit: str = "s"
    speed: float | None = None
    speed_unit: str | None = None  # defaults to m/s or rad/s by direction
    pace: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "duration", _check_finite("duration", self.duration))
        if self.duration < 0:
            raise ActionError(f"duration must not be negative, got {self.duration!r}")
        _check_unit("unit", self.unit, TIME_UNITS)
        if self.direction not in LINEAR_DIRECTIONS + ANGULAR_DIRECTIONS:
            raise ActionError(f"direction must be one of "
                              f"{LINEAR_DIRECTIONS + ANGULAR_DIRECTIONS}, got {self.direction!r}")
        if self.speed_unit is None:
            object.__setattr__(self, "speed_unit", "m/s" if self.is_linear else "rad/s")
        _check_unit("speed_unit", self.speed_unit,
                    LINEAR_SPEED_UNITS if self.is_linear else ANGULAR_SPEED_UNITS)
        _check_speed(self)

    @property
    def is_linear(self) -> bool:
        return self.direction in LINEAR_DIRECTIONS


@dataclass(frozen=True)
class Shape:
    """A regular polygon: `SHAPE_SIDES[name]` times (a side, then the exterior angle).
    `direction` is +1 (turning left, counter-clockwise) or -1 (right). A speed is the
    speed along the sides (the turns keep the default rate); a pace applies to both."""

    name: str
    side: float
    unit: str = "m"
    direction: int = 1
    speed: float | None = None  # magnitude, in speed_unit
    speed_unit: str = "m/s"
    pace: str | None = None

    def __post_init__(self):
        if self.name not in SHAPE_SIDES:
            raise ActionError(f"name must be one of {sorted(SHAPE_SIDES)}, got {self.name!r}")
        object.__setattr__(self, "side", _check_finite("side", self.side))
        if self.side <= 0:
            raise ActionError(f"side must be positive, got {self.side!r}")
        if isinstance(self.direction, bool) or self.direction not in (1, -1):
            raise ActionError(f"direction must be 1 (left) or -1 (right), got {self.direction!r}")
        object.__setattr__(self, "direction", int(self.direction))
        _check_unit("unit", self.unit, DISTANCE_UNITS)
        _check_unit("speed_unit", self.speed_unit, LINEAR_SPEED_UNITS)
        _check_speed(self)

    def expand(self) -> list:
        """The moves and turns the shape stands for."""
        sides = SHAPE_SIDES[self.name]
        move = Move(self.side, self.unit, self.speed, self.speed_unit, self.pace)
        turn = Turn(self.direction * 360 / sides, "deg", pace=self.pace)
        return [move, turn] * sides


@dataclass(frozen=True)
class DefaultTurn:
    """A turn with a side and no angle ("take a left", "turn right"): DEFAULT_TURN_DEG
    that way. `direction` is +1 (left) or -1 (right)."""

    direction: int
    speed: float | None = None
    speed_unit: str = "rad/s"
    pace: str | None = None

    def __post_init__(self):
        if isinstance(self.direction, bool) or self.direction not in (1, -1):
            raise ActionError(f"direction must be 1 (left) or -1 (right), got {self.direction!r}")
        object.__setattr__(self, "direction", int(self.direction))
        _check_unit("speed_unit", self.speed_unit, ANGULAR_SPEED_UNITS)
        _check_speed(self)

    def expand(self) -> list:
        """The turn it stands for."""
        return [Turn(self.direction * DEFAULT_TURN_DEG, "deg", self.speed, self.speed_unit,
                     self.pace)]


@dataclass(frozen=True)
class Stop:
    """Stop all motion now."""


@dataclass(frozen=True)
class Navigate:
    """Go to a named place; the node looks the pose up in its `places` parameter."""

    place: str

    def __post_init__(self):
        place = " ".join(str(self.place).lower().split())
        place = re.sub(r"^(?:the\s+)+", "", place)  # "the dock" and "dock" are one place
        if not place or not re.fullmatch(r"[a-z0-9][a-z0-9 _'-]*", place) \
                or "then" in place.split():  # "then" separates actions in a response
            raise ActionError(f"place must be a plain name, got {self.place!r}")
        object.__setattr__(self, "place", place)


@dataclass(frozen=True)
class Status:
    """A status answer whose numbers the node fills from live sensors."""

    topic: str

    def __post_init__(self):
        if self.topic not in STATUS_TOPICS:
            raise ActionError(f"topic must be one of {STATUS_TOPICS}, got {self.topic!r}")


@dataclass(frozen=True)
class Refuse:
    """Do nothing and say why (unsupported, unsafe, unclear, other language)."""

    reason: str

    def __post_init__(self):
        reason = " ".join(str(self.reason).split()).rstrip(".")
        if not reason:
            raise ActionError("a refusal needs a reason")
        object.__setattr__(self, "reason", reason)


Action = Union[Move, Turn, TimedMove, Shape, DefaultTurn, Stop, Navigate, Status, Refuse]
MOTION_ACTIONS = (Move, Turn, TimedMove, Shape, DefaultTurn)
_EXPANDING = (Shape, DefaultTurn)  # lines that stand for other actions


def expand_actions(actions) -> list:
    """`actions` with every Shape replaced by its moves and turns and every DefaultTurn by
    its turn: what the robot executes, and what two responses are compared by."""
    return [step for a in actions for step in (a.expand() if isinstance(a, _EXPANDING) else (a,))]


@dataclass(frozen=True)
class ParseError:
    """Model output that could not be understood: the robot must not move."""

    message: str
    text: str = ""

    def __bool__(self) -> bool:  # so `if not result:` reads naturally
        return False


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

def format_number(value: float) -> str:
    """Shortest text that reads back as the same float ("2", "0.5", "1.25")."""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:  # keep plain decimals for the model to copy
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def _speed_suffix(speed, speed_unit, pace) -> str:
    if speed is not None:
        return f" at {format_number(speed)} {speed_unit}"
    if pace is not None:
        return " slowly" if pace == "slow" else " quickly"
    return ""


def render_action(action: Action) -> str:
    """One canonical line for one action."""
    if isinstance(action, Move):
        direction = "backward" if action.distance < 0 else "forward"
        return (f"Move {direction} {format_number(abs(action.distance))} {action.unit}"
                f"{_speed_suffix(action.speed, action.speed_unit, action.pace)}.")
    if isinstance(action, Turn):
        direction = "right" if action.angle < 0 else "left"
        return (f"Turn {direction} {format_number(abs(action.angle))} {action.unit}"
                f"{_speed_suffix(action.speed, action.speed_unit, action.pace)}.")
    if isinstance(action, TimedMove):
        verb = "Move" if action.is_linear else "Turn"
        return (f"{verb} {action.direction} for {format_number(action.duration)} {action.unit}"
                f"{_speed_suffix(action.speed, action.speed_unit, action.pace)}.")
    if isinstance(action, Shape):
        direction = "left" if action.direction > 0 else "right"
        return (f"{action.name.capitalize()} with {format_number(action.side)} {action.unit} "
                f"sides, turning {direction}"
                f"{_speed_suffix(action.speed, action.speed_unit, action.pace)}.")
    if isinstance(action, DefaultTurn):
        direction = "left" if action.direction > 0 else "right"
        return f"Turn {direction}{_speed_suffix(action.speed, action.speed_unit, action.pace)}."
    if isinstance(action, Stop):
        return "Stop."
    if isinstance(action, Navigate):
        return f"Navigate to {action.place}."
    if isinstance(action, Status):
        if action.topic == "battery":
            return f"Battery status: {STATUS_SLOTS['battery']}."
        return f"Obstacle report: {STATUS_SLOTS['obstacles']}."
    if isinstance(action, Refuse):
        return f"Cannot comply: {action.reason}."
    raise TypeError(f"not an action: {action!r}")


def render_response(actions) -> str:
    """The training target for a list of actions: one canonical line each."""
    actions = list(actions)
    if not actions:
        raise ValueError("a response needs at least one action")
    return "\n".join(render_action(a) for a in actions)


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"

_UNIT_SYNONYMS = {
    # distance
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
    "ft": "ft", "foot": "ft", "feet": "ft",
    "in": "in", "inch": "in", "inches": "in",
    # angle
    "deg": "deg", "degree": "deg", "degrees": "deg", "°": "deg",
    "rad": "rad", "radian": "rad", "radians": "rad",
    # time
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    # speed
    "m/s": "m/s", "cm/s": "cm/s", "ft/s": "ft/s",
    "rad/s": "rad/s", "deg/s": "deg/s", "°/s": "deg/s",
}


def _unit_pattern(canonical_units) -> str:
    names = sorted((k for k, v in _UNIT_SYNONYMS.items() if v in canonical_units),
                   key=len, reverse=True)
    return "(?:" + "|".join(re.escape(n) for n in names) + r")(?![a-z/])"


_DIST = _unit_pattern(DISTANCE_UNITS)
_ANG = _unit_pattern(ANGLE_UNITS)
_TIME = _unit_pattern(TIME_UNITS)
_LSPD = _unit_pattern(LINEAR_SPEED_UNITS)
_ASPD = _unit_pattern(ANGULAR_SPEED_UNITS)
_SPEED_SUFFIX = rf"(?:\s+at\s+(?P<speed>{_NUM})\s*(?P<sunit>{_LSPD}|{_ASPD})|\s+(?P<pace>slowly|quickly))?"

_LINEAR_WORDS = {"forward": 1, "forwards": 1, "ahead": 1, "backward": -1, "backwards": -1,
                 "back": -1}
_ANGULAR_WORDS = {"left": 1, "counterclockwise": 1, "counter-clockwise": 1,
                  "anticlockwise": 1, "anti-clockwise": 1, "right": -1, "clockwise": -1}
_LDIR = "(?:" + "|".join(sorted(map(re.escape, _LINEAR_WORDS), key=len, reverse=True)) + ")"
_ADIR = "(?:" + "|".join(sorted(map(re.escape, _ANGULAR_WORDS), key=len, reverse=True)) + ")"

_RE_MOVE = re.compile(
    rf"(?:move|go|drive)\s+(?P<dir>{_LDIR})\s+(?P<num>{_NUM})\s*(?P<unit>{_DIST}){_SPEED_SUFFIX}")
_RE_TURN = re.compile(
    rf"(?:turn|rotate)\s+(?P<dir>{_ADIR})\s+(?P<num>{_NUM})\s*(?P<unit>{_ANG}){_SPEED_SUFFIX}")
_RE_TIMED = re.compile(
    rf"(?P<verb>move|go|drive|turn|rotate)\s+(?P<dir>{_LDIR}|{_ADIR})\s+for\s+"
    rf"(?P<num>{_NUM})\s*(?P<unit>{_TIME}){_SPEED_SUFFIX}")
_RE_DEFAULT_TURN = re.compile(rf"(?:turn|rotate)\s+(?P<dir>{_ADIR}){_SPEED_SUFFIX}")
_RE_SHAPE = re.compile(
    rf"(?:(?:drive|trace|draw|make)\s+)?(?:an?\s+)?(?:regular\s+|equilateral\s+)?"
    rf"(?P<shape>{'|'.join(SHAPE_SIDES)})\s+with\s+(?P<num>{_NUM})\s*(?P<unit>{_DIST})\s+sides?"
    rf",?\s+turning\s+(?P<dir>{_ADIR}){_SPEED_SUFFIX}")
_RE_STOP = re.compile(r"(?:emergency\s+)?(?:stop|halt|stopping)(?:\s+(?:now|immediately))?!*")
_RE_NAVIGATE = re.compile(
    r"(?:navigate|navigating|go|going|head|heading|return|returning|planning path|planning a path)"
    r"\s+(?:back\s+)?to\s+"
    r"(?:the\s+)?(?P<place>[a-z0-9][a-z0-9 _'-]*?)(?:\s+at\s+coordinates\s*\(.*\))?")
_RE_BATTERY = re.compile(r"(?:current\s+)?battery(?:\s+(?:status|level|report))?\s*(?::.*)?")
_RE_OBSTACLES = re.compile(
    r"(?:obstacle\s+report(?::.*)?|lidar\s+scan\s+results?:.*|(?:no|\d+)\s+obstacles?\s+detected.*)")
_RE_REFUSE = re.compile(r"(?:cannot comply|refused|refusing)\s*[:,-]\s*(?P<reason>.+)", re.IGNORECASE)

# The tutorial's long forms.
_RE_SEED_LINEAR = re.compile(
    rf"executing\s+linear\s+motion:\s*distance\s*=\s*(?P<num>{_NUM})\s*(?P<unit>{_DIST})"
    rf"(?:\s*,\s*speed\s*=\s*(?P<speed>{_NUM})\s*(?P<sunit>{_LSPD}))?")
_RE_SEED_ROTATION = re.compile(
    rf"executing\s+rotation:\s*angle\s*=\s*(?P<num>{_NUM})\s*(?P<unit>{_ANG})"
    rf"\s*(?:\(\s*(?P<dir>{_ADIR})\s*\))?"
    rf"(?:\s*,\s*angular_speed\s*=\s*(?P<speed>{_NUM})\s*(?P<sunit>{_ASPD}))?")
_PI_QTY = rf"(?:(?P<coef>{_NUM})\s*)?(?:π|pi)(?:\s*/\s*(?P<div>{_NUM}))?|(?P<plain>{_NUM})"
_RE_PUBLISHING = re.compile(
    rf"publishing\s+cmd_vel\s+with\s+(?P<axis>linear\.x|angular\.z)\s*=\s*(?P<vel>{_NUM})\s+"
    rf"for\s+(?:{_PI_QTY})\s*(?P<tunit>{_TIME})")

# Sentences that only annotate the action before them (numbers in them are ignored).
_NAVIGATE_NOTES = re.compile(
    r"(?:distance\s*:.*|estimated\s+time\s*:.*|initiating\s+autonomous\s+navigation)")
_OBSTACLE_NOTES = re.compile(r"(?:obstacle\s+\d+\s*:.*|closest\s+obstacle.*)")
_BATTERY_NOTES = re.compile(r"(?:voltage|charge|estimated\s+runtime)\s*[=:].*")

_LINE_PREFIX = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+)")
_SENTENCE_SPLIT = re.compile(r"\.(?=\s|$)|;|!(?=\s|$)|,?\s+(?:and\s+)?then\s+|,\s+and\s+")


def _canonical_unit(text: str) -> str:
    return _UNIT_SYNONYMS[text]


def _speed_fields(match, linear: bool) -> dict:
    speed = match.group("speed")
    if speed is not None:
        unit = _canonical_unit(match.group("sunit"))
        expected = LINEAR_SPEED_UNITS if linear else ANGULAR_SPEED_UNITS
        if unit not in expected:
            raise _Reject(f"speed unit {unit} does not fit a "
                          f"{'straight move' if linear else 'rotation'}")
        return {"speed": _magnitude(speed), "speed_unit": unit}
    pace = match.group("pace") if "pace" in match.re.groupindex else None
    if pace:
        return {"pace": "slow" if pace == "slowly" else "fast"}
    return {}


class _Reject(Exception):
    """Internal: the current sentence cannot be accepted."""


def _magnitude(text: str) -> float:
    """A quantity next to a direction word must be unsigned: "forward -2 m" is unclear."""
    if text.startswith("-"):
        raise _Reject("a negative number next to a direction word is ambiguous")
    return float(text)


def _parse_sentence(sentence: str, previous):
    """One sentence -> an Action, an annotation result, or None if not understood."""
    s = sentence
    if m := _RE_TIMED.fullmatch(s):
        direction = m.group("dir")
        verb_linear = m.group("verb") in ("move", "go", "drive")
        if direction in _LINEAR_WORDS:
            if not verb_linear:
                raise _Reject(f"cannot turn {direction}")
            canonical = "forward" if _LINEAR_WORDS[direction] > 0 else "backward"
        else:
            canonical = "left" if _ANGULAR_WORDS[direction] > 0 else "right"
        linear = canonical in LINEAR_DIRECTIONS
        duration = _magnitude(m.group("num"))
        return TimedMove(duration, canonical, _canonical_unit(m.group("unit")),
                         **_speed_fields(m, linear))
    if m := (_RE_MOVE.fullmatch(s)):
        sign = _LINEAR_WORDS[m.group("dir")]
        return Move(sign * _magnitude(m.group("num")), _canonical_unit(m.group("unit")),
                    **_speed_fields(m, True))
    if m := _RE_TURN.fullmatch(s):
        sign = _ANGULAR_WORDS[m.group("dir")]
        return Turn(sign * _magnitude(m.group("num")), _canonical_unit(m.group("unit")),
                    **_speed_fields(m, False))
    if m := _RE_DEFAULT_TURN.fullmatch(s):
        return DefaultTurn(_ANGULAR_WORDS[m.group("dir")], **_speed_fields(m, False))
    if m := _RE_SHAPE.fullmatch(s):
        return Shape(m.group("shape"), _magnitude(m.group("num")), _canonical_unit(m.group("unit")),
                     _ANGULAR_WORDS[m.group("dir")], **_speed_fields(m, True))
    if m := _RE_SEED_LINEAR.fullmatch(s):
        return Move(float(m.group("num")), _canonical_unit(m.group("unit")),
                    **_speed_fields(m, True))
    if m := _RE_SEED_ROTATION.fullmatch(s):
        angle = float(m.group("num"))
        if m.group("dir"):
            sign = _ANGULAR_WORDS[m.group("dir")]
            if angle * sign < 0:
                raise _Reject(f"angle {angle} contradicts direction {m.group('dir')}")
            angle = sign * abs(angle)
        return Turn(angle, _canonical_unit(m.group("unit")), **_speed_fields(m, False))
    if _RE_STOP.fullmatch(s):
        return Stop()
    if m := _RE_REFUSE.fullmatch(s):
        return Refuse(m.group("reason"))
    if _RE_BATTERY.fullmatch(s):
        return Status("battery")
    if _RE_OBSTACLES.fullmatch(s):
        return Status("obstacles")
    if m := _RE_NAVIGATE.fullmatch(s):
        return Navigate(m.group("place"))
    if m := _RE_PUBLISHING.fullmatch(s):
        return _cross_check(m, previous)
    if isinstance(previous, Navigate) and _NAVIGATE_NOTES.fullmatch(s):
        return previous
    if previous == Status("obstacles") and _OBSTACLE_NOTES.fullmatch(s):
        return previous
    if previous == Status("battery") and _BATTERY_NOTES.fullmatch(s):
        return previous
    return None


def _pi_quantity(m) -> float:
    if m.group("plain") is not None:
        return float(m.group("plain"))
    value = math.pi * (float(m.group("coef")) if m.group("coef") else 1.0)
    if m.group("div"):
        divisor = float(m.group("div"))
        if divisor == 0:
            raise _Reject("division by zero")
        value /= divisor
    return value


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.05, abs_tol=0.05)


def _cross_check(m, previous):
    """Check "Publishing cmd_vel with linear.x=V for T seconds" against the action
    before it. Returns that action, with its speed filled in if it had none."""
    velocity = float(m.group("vel"))
    seconds = _pi_quantity(m) * TIME_UNITS[_canonical_unit(m.group("tunit"))]
    linear = m.group("axis") == "linear.x"
    if linear and isinstance(previous, Move):
        amount = previous.distance * DISTANCE_UNITS[previous.unit]
        speed_unit = previous.speed_unit
        speed = None if previous.speed is None else previous.speed * LINEAR_SPEED_UNITS[speed_unit]
    elif not linear and isinstance(previous, Turn):
        amount = previous.angle * ANGLE_UNITS[previous.unit]
        speed_unit = previous.speed_unit
        speed = None if previous.speed is None else previous.speed * ANGULAR_SPEED_UNITS[speed_unit]
    else:
        raise _Reject("a cmd_vel description does not follow a matching motion")
    if amount != 0 and velocity * amount < 0:
        raise _Reject("the velocity sign contradicts the direction")
    if speed is not None and not _close(abs(velocity), speed):
        raise _Reject(f"velocity {velocity} contradicts speed {speed}")
    if velocity == 0 or not _close(abs(amount) / abs(velocity), seconds):
        raise _Reject(f"duration {seconds:.3g} s does not match the motion")
    if speed is None:
        table = LINEAR_SPEED_UNITS if linear else ANGULAR_SPEED_UNITS
        speed_unit = "m/s" if linear else "rad/s"
        cls = type(previous)
        fields = {**previous.__dict__, "speed": abs(velocity) / table[speed_unit],
                  "speed_unit": speed_unit, "pace": None}
        return cls(**fields)
    return previous


def _normalise(text: str) -> str:
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")
    return text.lower()


def _split_sentences(line: str) -> list[str]:
    parts = [p.strip(" ,\t") for p in _SENTENCE_SPLIT.split(line)]
    return [" ".join(p.split()) for p in parts if p and p.strip(" ,\t")]


def parse_response(text) -> list[Action] | ParseError:
    """Model output -> actions, or a ParseError. Never raises, never guesses:
    any sentence it does not understand makes the whole response a ParseError."""
    try:
        return _parse(text)
    except Exception as exc:  # a parser bug must never move the robot
        return ParseError(f"parser failure: {type(exc).__name__}: {exc}", str(text)[:200])


def _parse(text) -> list[Action] | ParseError:
    if not isinstance(text, str):
        return ParseError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_RESPONSE_CHARS:
        return ParseError(f"response longer than {MAX_RESPONSE_CHARS} characters", text[:200])
    actions: list[Action] = []
    for raw_line in text.splitlines():
        original = _LINE_PREFIX.sub("", raw_line).strip()
        if m := _RE_REFUSE.fullmatch(original.rstrip(". ")):  # a reason may hold any punctuation
            actions.append(Refuse(m.group("reason")))
            continue
        line = _normalise(original)
        if not line:
            continue
        for sentence in _split_sentences(line):
            previous = actions[-1] if actions else None
            try:
                result = _parse_sentence(sentence, previous)
            except (_Reject, ActionError) as exc:
                return ParseError(f"{exc} in {sentence!r}", text[:200])
            if result is None:
                return ParseError(f"cannot understand {sentence!r}", text[:200])
            if previous is not None and (result is previous or _is_annotation(sentence)):
                actions[-1] = result
            else:
                actions.append(result)
    if not actions:
        return ParseError("empty response", text[:200])
    return actions


def _is_annotation(sentence: str) -> bool:
    return bool(_RE_PUBLISHING.fullmatch(sentence))


def actions_equal(expected, actual, rel_tol: float = 0.01) -> bool:
    """Action lists equal up to number tolerance (used by tests and evaluation)."""
    if isinstance(actual, ParseError) or len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        if type(e) is not type(a):
            return False
        for name, ev in e.__dict__.items():
            av = a.__dict__[name]
            if isinstance(ev, float) and isinstance(av, float):
                if not math.isclose(ev, av, rel_tol=rel_tol, abs_tol=1e-9):
                    return False
            elif ev != av:
                return False
    return True


def action_to_dict(action: Action) -> dict:
    """JSON-friendly form, used for dataset metadata."""
    return {"type": type(action).__name__, **{k: v for k, v in action.__dict__.items()}}


_ACTION_TYPES = {cls.__name__: cls for cls in (Move, Turn, TimedMove, Shape, DefaultTurn, Stop,
                                                Navigate, Status, Refuse)}


def action_from_dict(data: dict) -> Action:
    fields = dict(data)
    kind = fields.pop("type", None)
    if kind not in _ACTION_TYPES:
        raise ActionError(f"unknown action type {kind!r}")
    return _ACTION_TYPES[kind](**fields)


def intent_of(actions) -> str:
    """A one-word label for a response: move, turn, timed, sequence, stop, navigate,
    status_battery, status_obstacles, refuse, or parse_error. A shape is a sequence."""
    if isinstance(actions, ParseError) or not actions:
        return "parse_error"
    actions = expand_actions(actions)
    if any(isinstance(a, Refuse) for a in actions):
        return "refuse"
    if len(actions) > 1:
        return "sequence"
    a = actions[0]
    return {Move: "move", Turn: "turn", TimedMove: "timed", Stop: "stop",
            Navigate: "navigate"}.get(type(a)) or f"status_{a.topic}"

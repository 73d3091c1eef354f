"""The response-format contract: render -> parse round trip, the tutorial's five
responses, reasonable variants, and a parser that never raises or invents motion."""
import math
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_sft.response_format import (
    ANGLE_UNITS, ANGULAR_SPEED_UNITS, DISTANCE_UNITS, LINEAR_SPEED_UNITS, REFUSAL_REASONS,
    SHAPE_SIDES, TIME_UNITS, ActionError, DefaultTurn, Move, Navigate, ParseError, Refuse, Shape, Status, Stop,
    TimedMove, Turn, action_from_dict, action_to_dict, actions_equal, expand_actions, format_number,
    intent_of, parse_response, render_response,
)
from robot_sft.safety import SafetyLimits, plan_twists

SEED_RESPONSES = {
    "forward": "Executing linear motion: distance=2.0m, speed=0.5m/s. "
               "Publishing cmd_vel with linear.x=0.5 for 4.0 seconds.",
    "battery": "Current battery status: voltage=25.2V, charge=78%, estimated runtime=3.2 hours.",
    "navigate": "Planning path to charging station at coordinates (12.5, 3.2). Distance: 15.3m. "
                "Estimated time: 45s. Initiating autonomous navigation.",
    "rotate": "Executing rotation: angle=-90°(clockwise), angular_speed=0.5rad/s. "
              "Publishing cmd_vel with angular.z=-0.5 for π seconds.",
    "obstacles": "LiDAR scan results: 3 obstacles detected. Obstacle 1: 2.1m at 15° (wall). "
                 "Obstacle 2: 0.8m at 340° (box). Obstacle 3: 5.2m at 90° (shelf). "
                 "Closest obstacle at 0.8m — within safety threshold.",
}

# ---------------------------------------------------------------- strategies

_amounts = st.decimals(min_value=0, max_value=50, places=2, allow_nan=False).map(float)
_sides = st.decimals(min_value="0.01", max_value=50, places=2).map(float)
_speeds = st.decimals(min_value="0.01", max_value=5, places=2).map(float)
_pace = st.sampled_from([None, "slow", "fast"])


@st.composite
def _speed_fields(draw, units):
    choice = draw(st.sampled_from(["none", "speed", "pace"]))
    if choice == "speed":
        return {"speed": draw(_speeds), "speed_unit": draw(st.sampled_from(sorted(units)))}
    if choice == "pace":
        return {"pace": draw(st.sampled_from(["slow", "fast"]))}
    return {}


@st.composite
def actions(draw):
    kind = draw(st.sampled_from(["move", "turn", "default_turn", "timed", "shape", "stop",
                                 "navigate", "status", "refuse"]))
    if kind == "move":
        sign = draw(st.sampled_from([1, -1]))
        return Move(sign * draw(_amounts), draw(st.sampled_from(sorted(DISTANCE_UNITS))),
                    **draw(_speed_fields(LINEAR_SPEED_UNITS)))
    if kind == "turn":
        sign = draw(st.sampled_from([1, -1]))
        return Turn(sign * draw(_amounts), draw(st.sampled_from(sorted(ANGLE_UNITS))),
                    **draw(_speed_fields(ANGULAR_SPEED_UNITS)))
    if kind == "default_turn":
        return DefaultTurn(draw(st.sampled_from([1, -1])),
                           **draw(_speed_fields(ANGULAR_SPEED_UNITS)))
    if kind == "timed":
        direction = draw(st.sampled_from(["forward", "backward", "left", "right"]))
        units = LINEAR_SPEED_UNITS if direction in ("forward", "backward") else ANGULAR_SPEED_UNITS
        return TimedMove(draw(_amounts), direction, draw(st.sampled_from(sorted(TIME_UNITS))),
                         **draw(_speed_fields(units)))
    if kind == "shape":
        return Shape(draw(st.sampled_from(sorted(SHAPE_SIDES))), draw(_sides),
                     draw(st.sampled_from(sorted(DISTANCE_UNITS))), draw(st.sampled_from([1, -1])),
                     **draw(_speed_fields(LINEAR_SPEED_UNITS)))
    if kind == "stop":
        return Stop()
    if kind == "navigate":
        words = draw(st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=8)
                              .filter(lambda w: w != "then"), min_size=1, max_size=3))
        return Navigate(" ".join(words))
    if kind == "status":
        return Status(draw(st.sampled_from(["battery", "obstacles"])))
    return Refuse(draw(st.sampled_from(sorted(REFUSAL_REASONS.values()))))


# ---------------------------------------------------------------- round trip

@settings(max_examples=500, deadline=None)
@given(st.lists(actions(), min_size=1, max_size=8))
def test_render_then_parse_is_identity(action_list):
    text = render_response(action_list)
    parsed = parse_response(text)
    assert not isinstance(parsed, ParseError), (text, parsed)
    assert parsed == action_list, text


@settings(max_examples=200, deadline=None)
@given(st.lists(actions(), min_size=1, max_size=4))
def test_dict_round_trip(action_list):
    assert [action_from_dict(action_to_dict(a)) for a in action_list] == action_list


def test_square_is_eight_actions():
    square = [Move(1.0, "m"), Turn(90.0, "deg")] * 4
    text = render_response(square)
    assert text.count("\n") == 7
    assert parse_response(text) == square


@pytest.mark.parametrize("shape, move, turn", [
    (Shape("square", 1), Move(1), Turn(90)),
    (Shape("triangle", 50, "cm", -1, pace="slow"), Move(50, "cm", pace="slow"),
     Turn(-120, pace="slow")),
    (Shape("pentagon", 2, "ft"), Move(2, "ft"), Turn(72)),
    (Shape("hexagon", 0.5, speed=0.3), Move(0.5, speed=0.3), Turn(60)),  # a speed is the sides'
])
def test_shape_expands_to_moves_and_turns(shape, move, turn):
    assert shape.expand() == [move, turn] * SHAPE_SIDES[shape.name]
    assert expand_actions([Stop(), shape, Stop()]) == [Stop(), *shape.expand(), Stop()]
    assert sum(t.angle for t in shape.expand() if isinstance(t, Turn)) == 360 * shape.direction


@pytest.mark.parametrize("turn, expanded", [
    (DefaultTurn(1), Turn(90)),
    (DefaultTurn(-1, pace="slow"), Turn(-90, pace="slow")),
    (DefaultTurn(-1, speed=0.3), Turn(-90, speed=0.3)),
])
def test_default_turn_is_a_right_angle_that_way(turn, expanded):
    assert turn.expand() == [expanded]
    assert expand_actions([Move(1), turn]) == [Move(1), expanded]
    assert intent_of([turn]) == "turn"


@pytest.mark.parametrize("text", ["turn left", "Turn right.", "rotate counterclockwise", "Turn left slowly."])
def test_a_turn_without_an_angle_is_a_default_turn(text):
    parsed = parse_response(text)
    assert len(parsed) == 1 and isinstance(parsed[0], DefaultTurn)


# ---------------------------------------------------------------- canonical text

@pytest.mark.parametrize("action, text", [
    (Move(2.0), "Move forward 2 m."),
    (Move(-30, "cm", speed=0.2), "Move backward 30 cm at 0.2 m/s."),
    (Move(1.5, "ft", pace="slow"), "Move forward 1.5 ft slowly."),
    (Turn(90), "Turn left 90 deg."),
    (Turn(-1.5, "rad", speed=0.3), "Turn right 1.5 rad at 0.3 rad/s."),
    (DefaultTurn(1), "Turn left."),
    (DefaultTurn(-1, pace="fast"), "Turn right quickly."),
    (TimedMove(3, "forward"), "Move forward for 3 s."),
    (TimedMove(2, "left", pace="fast"), "Turn left for 2 s quickly."),
    (Shape("square", 1), "Square with 1 m sides, turning left."),
    (Shape("triangle", 50, "cm", -1, pace="slow"),
     "Triangle with 50 cm sides, turning right slowly."),
    (Shape("hexagon", 2.5, "ft", speed=0.3), "Hexagon with 2.5 ft sides, turning left at 0.3 m/s."),
    (Stop(), "Stop."),
    (Navigate("Charging Station"), "Navigate to charging station."),
    (Status("battery"), "Battery status: {battery}."),
    (Status("obstacles"), "Obstacle report: {obstacles}."),
    (Refuse(REFUSAL_REASONS["language"]), "Cannot comply: only English commands are supported."),
])
def test_canonical_lines(action, text):
    assert render_response([action]) == text


@pytest.mark.parametrize("value, text", [
    (2.0, "2"), (0.5, "0.5"), (1.25, "1.25"), (100.0, "100"), (1e-7, "0.0000001"), (0.1, "0.1"),
])
def test_format_number(value, text):
    assert format_number(value) == text
    assert float(text) == value


# ---------------------------------------------------------------- the tutorial's five

def test_seed_forward_is_half_metre_per_second_for_four_seconds():
    actions_ = parse_response(SEED_RESPONSES["forward"])
    assert actions_ == [Move(2.0, "m", speed=0.5)]
    (segment,) = plan_twists(actions_)
    assert (segment.linear_x, segment.angular_z) == (0.5, 0.0)
    assert segment.duration == pytest.approx(4.0)


def test_seed_clockwise_is_negative_half_radian_per_second_for_pi_seconds():
    actions_ = parse_response(SEED_RESPONSES["rotate"])
    assert actions_ == [Turn(-90.0, "deg", speed=0.5)]
    (segment,) = plan_twists(actions_)
    assert segment.linear_x == 0.0
    assert segment.angular_z == pytest.approx(-0.5)
    assert segment.duration == pytest.approx(math.pi)


@pytest.mark.parametrize("key, expected", [
    ("battery", [Status("battery")]),
    ("navigate", [Navigate("charging station")]),
    ("obstacles", [Status("obstacles")]),
])
def test_seed_non_motion_responses(key, expected):
    actions_ = parse_response(SEED_RESPONSES[key])
    assert actions_ == expected
    assert plan_twists(actions_) == []  # status and navigation never publish cmd_vel


# ---------------------------------------------------------------- variants

@pytest.mark.parametrize("text, expected", [
    ("move forward 2 meters", [Move(2.0)]),
    ("Go backward 50 centimetres.", [Move(-50.0, "cm")]),
    ("Drive ahead 3 feet at 0.25 m/s", [Move(3.0, "ft", speed=0.25)]),
    ("Turn clockwise 45 degrees.", [Turn(-45.0)]),
    ("Rotate counter-clockwise 1.57 radians", [Turn(1.57, "rad")]),
    ("Turn left 90°.", [Turn(90.0)]),
    ("Move forward 1 m, then turn left 90 deg and then stop",
     [Move(1.0), Turn(90.0), Stop()]),
    ("1. Move forward 1 m.\n2. Turn right 90 deg.", [Move(1.0), Turn(-90.0)]),
    ("- Move forward 1 m.\n- Stop.", [Move(1.0), Stop()]),
    ("STOP!", [Stop()]),
    ("Emergency stop.", [Stop()]),
    ("Go back to the dock.", [Navigate("dock")]),
    ("Navigating to the kitchen.", [Navigate("kitchen")]),
    ("Move forward for 2 minutes slowly.", [TimedMove(2.0, "forward", "min", pace="slow")]),
    ("Turn right for 3 seconds at 0.2 rad/s.", [TimedMove(3.0, "right", speed=0.2)]),
    ("Battery status: 78% (25.2 V).", [Status("battery")]),
    ("Cannot comply: that is unsafe. Really.", [Refuse("that is unsafe. Really")]),
    ("Executing linear motion: distance=2.0m. Publishing cmd_vel with linear.x=0.5 for 4 seconds.",
     [Move(2.0, speed=0.5)]),  # the speed is recovered from the consistent cross-check
    ("a square with 1 m sides, turning clockwise", [Shape("square", 1, "m", -1)]),
    ("SQUARE WITH 2 FEET SIDES TURNING COUNTER-CLOCKWISE QUICKLY!",
     [Shape("square", 2, "ft", 1, pace="fast")]),
    ("Drive an equilateral triangle with 50cm sides, turning right at 0.2 m/s.",
     [Shape("triangle", 50, "cm", -1, speed=0.2)]),
    ("Pentagon with 1 meter side, turning left, then stop.", [Shape("pentagon", 1), Stop()]),
])
def test_reasonable_variants(text, expected):
    assert parse_response(text) == expected


@pytest.mark.parametrize("text", [
    "",
    "   \n  ",
    "I'm sorry for any confusion. Move forward 2 m",  # half understood: do nothing
    "Move forward 2 m. Then do a backflip.",
    "Move forward lots.",
    "Move forward 2 m at 3 rad/s.",  # angular speed for a straight move
    "Turn left 90 m.",
    "Move forward for -3 s.",
    "Executing linear motion: distance=2.0m, speed=0.5m/s. "
    "Publishing cmd_vel with linear.x=0.5 for 5.0 seconds.",  # derived number contradicts
    "Executing linear motion: distance=2.0m, speed=0.5m/s. "
    "Publishing cmd_vel with linear.x=-0.5 for 4.0 seconds.",  # sign contradicts
    "Executing rotation: angle=90°(clockwise), angular_speed=0.5rad/s.",  # sign contradicts
    "Publishing cmd_vel with linear.x=0.5 for 4.0 seconds.",  # derived numbers alone
    "Move forward 1e309 m.",
    "Move forward \u22122 m.",  # a signed number next to a direction word is ambiguous
    "Move forward 2 m at -0.5 m/s.",
    "Square with 1 m sides.",  # which way to turn is not said
    "Octagon with 1 m sides, turning left.",
    "Square with 0 m sides, turning left.",
    "Square with -1 m sides, turning left.",
    "Square with 1 m sides, turning left at 0.5 rad/s.",  # the speed is along the sides
    "Square with 1 deg sides, turning left.",
    "x" * 5000,
])
def test_unclear_text_is_a_parse_error(text):
    result = parse_response(text)
    assert isinstance(result, ParseError), result
    assert result.message
    assert not result  # falsy, so `if not actions:` refuses it


@pytest.mark.parametrize("value", [None, 42, b"Move forward 2 m.", ["Stop."]])
def test_non_text_is_a_parse_error(value):
    assert isinstance(parse_response(value), ParseError)


# ---------------------------------------------------------------- robustness

def _adversarial_strings(count, seed=0):
    rng = random.Random(seed)
    fragments = ["Move", "forward", "backward", "Turn", "left", "right", "for", "at", "m", "cm",
                 "deg", "rad", "s", "m/s", "rad/s", "1e9", "-5", "999999", "0", "nan", "inf",
                 "π", "/0", ".", "\n", ", then ", "Stop", "Cannot comply:", "Navigate to",
                 "linear.x=", "Publishing cmd_vel with", "angular.z=1e9 for", "°", "\x00",
                 "slowly", "quickly", "Executing linear motion: distance=", "speed=", "ftp"]
    alphabet = string.printable + "°π−—\u202e\U0001F916"
    for i in range(count):
        if i % 2:
            yield " ".join(rng.choice(fragments) for _ in range(rng.randint(1, 14)))
        else:
            yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))


def test_ten_thousand_adversarial_strings_never_raise_or_exceed_limits():
    limits = SafetyLimits()
    for text in _adversarial_strings(10_000):
        result = parse_response(text)
        assert isinstance(result, (list, ParseError))
        if isinstance(result, list):
            plan = plan_twists(result, limits)
            for segment in plan or []:
                assert abs(segment.linear_x) <= limits.max_linear_speed
                assert abs(segment.angular_z) <= limits.max_angular_speed
                assert 0 <= segment.duration <= limits.max_duration


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=200))
def test_any_text_never_raises(text):
    result = parse_response(text)
    assert isinstance(result, (list, ParseError))


# ---------------------------------------------------------------- actions

@pytest.mark.parametrize("make", [
    lambda: Move(float("nan")),
    lambda: Move(1.0, "furlong"),
    lambda: Move(1.0, speed=-1.0),
    lambda: Move(1.0, speed=0.5, pace="slow"),
    lambda: Turn(90.0, pace="medium"),
    lambda: TimedMove(-1.0, "forward"),
    lambda: TimedMove(1.0, "up"),
    lambda: TimedMove(1.0, "forward", speed_unit="rad/s"),
    lambda: Navigate(""),
    lambda: Navigate("kitchen; rm -rf /"),
    lambda: Navigate("dock then kitchen"),
    lambda: Status("weather"),
    lambda: Refuse("   "),
    lambda: Shape("octagon", 1.0),
    lambda: Shape("Square", 1.0),
    lambda: Shape("square", 0.0),
    lambda: Shape("square", -1.0),
    lambda: Shape("square", 1.0, direction=0),
    lambda: Shape("square", 1.0, direction=True),
    lambda: Shape("square", 1.0, speed_unit="rad/s"),
    lambda: Shape("square", 1.0, speed=0.5, pace="fast"),
])
def test_invalid_actions_are_rejected(make):
    with pytest.raises(ActionError):
        make()


@pytest.mark.parametrize("actions_, intent", [
    ([Move(1.0)], "move"), ([Turn(1.0)], "turn"), ([TimedMove(1.0, "left")], "timed"),
    ([Stop()], "stop"), ([Navigate("dock")], "navigate"), ([Status("battery")], "status_battery"),
    ([Move(1.0), Stop()], "sequence"), ([Refuse("no")], "refuse"),
    ([Shape("square", 1.0)], "sequence"),
    (ParseError("x"), "parse_error"),
])
def test_intent_of(actions_, intent):
    assert intent_of(actions_) == intent


def test_actions_equal_uses_tolerance():
    assert actions_equal([Move(2)], [Move(2.001)])  # ints are stored as floats
    assert actions_equal([Move(2.0)], [Move(2.001)])
    assert not actions_equal([Move(2.0)], [Move(2.5)])
    assert not actions_equal([Move(2.0)], [Turn(2.0)])
    assert not actions_equal([Move(2.0)], ParseError("x"))

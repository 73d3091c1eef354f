"""Pure parts of the controller: stop detection, sanitising, places, replies, the motion
state machine and the parameter table (no rclpy, no torch)."""
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_sft.commands import is_stop_command, sanitise_command
from robot_sft.controller_config import DEFAULTS, PARAMETERS, make_config
from robot_sft.executor import CLOSED_LOOP_TIMEOUT, MotionExecutor
from robot_sft.places import Place, parse_places
from robot_sft.reply import battery_text, build_reply, obstacles_text
from robot_sft.safety import SafetyLimits, TwistSegment

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text", [
    "stop", "STOP!", "Stop.", "halt", "Freeze!", "emergency stop", "EMERGENCY STOP!!!",
    "stop now please", "please stop", "Stop the robot!", "stop moving", "stop immediately",
    "  stop  ", "ＳＴＯＰ", "e-stop", "abort", "don't move", "stand still", "hey robot, stop!",
    "Stop, stop, stop", "arrête", "halt right now", "enough", "That's enough!", "whoa",
    "freeze right there", "No more moving, freeze", "stop there", "stay right here, stop",
    # a reason after the stop (session 13): served at once, not by the model
    "e-stop, person in aisle", "Stop! Someone is in front of you.", "Stop - cable on the floor",
    "Halt; the cart is blocking the lane", "Emergency stop, if that is okay.",
])
def test_stop_commands(text):
    assert is_stop_command(text)


@pytest.mark.parametrize("text", [
    "", "   ", "move forward 1 m", "stop at the kitchen", "stop and turn left 90 deg",
    "non-stop dancing", "go to the bus stop", "don't stop", "stop 3", "turn left",
    "no more", "stay here", "stop over there by the door", "go there",
    # a further request after the stop goes to the model
    "stop, then turn left", "stop. report battery", "stop, go to the kitchen", "stop, 2 m more",
    "stop, wait for me", "stop, why did you go left?", "stop, not yet", "stop - three more feet",
    "stop, eleven more", "stop, 1,5 m",  # any number grounding.mentioned_numbers reads
    "stop " * 100,
])
def test_not_stop_commands(text):
    assert not is_stop_command(text)


@pytest.mark.parametrize("raw, expected", [
    ("  Move   forward\n1 m. ", "Move forward 1 m."),
    (b"Move forward \xff 1 m", "Move forward \ufffd 1 m"),
    ("a\x00b\x1bc\u2028d\t", "a b c d"),
    ("", ""),
    (None, "None"),
])
def test_sanitise_command(raw, expected):
    assert sanitise_command(raw, 100) == expected


@given(st.one_of(st.text(), st.binary()), st.integers(1, 300))
@settings(max_examples=300, deadline=None)
def test_sanitise_is_bounded_single_line_and_stable(raw, limit):
    text = sanitise_command(raw, limit)
    assert len(text) <= limit and "\n" not in text and text == text.strip()
    assert sanitise_command(text, limit) == text
    is_stop_command(text)  # never raises


def test_sanitise_cuts_huge_input_quickly():
    assert len(sanitise_command("x" * 10_000_000, 500)) == 500


def test_parse_places():
    places = parse_places(["Charging Station:12.5,3.2,0.0", "the dock:1,2"])
    assert places == {"charging station": Place("charging station", 12.5, 3.2, 0.0),
                      "dock": Place("dock", 1.0, 2.0, 0.0)}


@pytest.mark.parametrize("entry", ["dock", "dock:1", "dock:a,b", "dock:1,2,3,4", "dock:nan,0",
                                   ":1,2", "do$ck:1,2"])
def test_bad_places(entry):
    with pytest.raises(ValueError):
        parse_places([entry])
    with pytest.raises(ValueError, match="places"):
        make_config({"places": [entry]})


def test_battery_and_obstacle_texts():
    assert battery_text(0.78, 25.2) == "78% charge, 25.2 V"
    assert battery_text(float("nan"), 12.0) == "12.0 V"
    assert "unknown" in battery_text(float("nan"), float("nan"))
    ranges = [5.0, float("inf"), 0.8, 0.01, float("nan")]  # 0.01 is under range_min
    text = obstacles_text(ranges, -math.pi / 2, math.pi / 4, 0.1, 10.0)
    assert text == "nearest obstacle 0.80 m at 0 deg (ahead)"
    assert obstacles_text([2.0, 1.0], 0.0, 0.5, 0.1, 10.0).endswith("at 29 deg (left)")
    assert obstacles_text([float("inf")], 0.0, 0.1, 0.1, 12.0) == "no obstacle within 12.0 m"


LIMITS = SafetyLimits()
PLACES = parse_places(["charging station:12.5,3.2,0", "dock:0,0,0"])


@pytest.mark.parametrize("model_text, says, moves, goal", [
    ("Move forward 1 m.", "linear.x=0.5 for 2.00 seconds", [(0.5, 0.0, 2.0)], None),
    ("Turn right 90 deg.", "angular.z=-0.5 for 3.14", [(0.0, -0.5, math.pi)], None),
    ("Move forward 1 m at 5 m/s.", "Not moving: speed 5 m/s exceeds the limit", [], None),
    ("Turn left 90 deg quickly.", "angular.z=0.8 for 1.96", [(0.0, 0.8, math.pi / 1.6)], None),
    ("Stop.", "Publishing zero cmd_vel.", [(0.0, 0.0, 0.0)], None),
    ("Battery status: {battery}.", "Battery status: 50% charge.", [], None),
    ("Current battery status: voltage=25.2V, charge=78%.", "Battery status: 50% charge.", [], None),
    ("Obstacle report: {obstacles}.", "Obstacle report: none near.", [], None),
    ("Navigate to the charging station.", "Goal: charging station at x=12.50", [], "charging station"),
    ("Navigate to mars.", "unknown place 'mars'. Known places: charging station, dock", [], None),
    ("Navigate to dock.\nMove forward 1 m.", "cannot be combined", [], None),
    ("Move forward 20 m.", "Not moving: distance 20.00 m exceeds", [], None),
    ("Triangle with 1 m sides, turning right.",  # one line, six segments, said as written
     "Triangle with 1 m sides, turning right.\nPublishing cmd_vel with linear.x=0.5 for 2.00",
     [(0.5, 0.0, 2.0), (0.0, -0.5, 4 * math.pi / 3)] * 3, None),  # 120 deg at 0.5 rad/s
    ("Square with 20 m sides, turning left.", "Not moving: distance 20.00 m exceeds", [], None),
    ("Cannot comply: safety rules cannot be overridden.", "Cannot comply", [], None),
    ("Sure! I will drive at 100 m/s.", "Not moving: could not understand", [], None),
    ("", "Not moving: could not understand the model's answer: empty response", [], None),
])
def test_build_reply(model_text, says, moves, goal):
    reply = build_reply(model_text, LIMITS, PLACES, "50% charge", "none near")
    assert says in reply.text
    assert [(s.linear_x, s.angular_z, pytest.approx(s.duration)) for s in reply.segments] == moves
    assert (reply.goal.name if reply.goal else None) == goal
    assert "78%" not in reply.text and "25.2" not in reply.text  # never the model's numbers


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_build_reply_never_raises_and_stays_in_limits(text):
    reply = build_reply(text, LIMITS, PLACES, "b", "o")
    for s in reply.segments:
        assert abs(s.linear_x) <= LIMITS.max_linear_speed
        assert abs(s.angular_z) <= LIMITS.max_angular_speed
        assert 0 <= s.duration <= LIMITS.max_duration


# ---------------------------------------------------------------- motion state machine

def run(executor, until, dt=0.01, odom=None, start=0.0):
    """Step the executor on a fake clock; `odom(t, twist)` may feed poses. Returns
    [(t, twist)] of everything published."""
    published, t, twist = [], start, (0.0, 0.0)
    while t <= until:
        if odom:
            odom(executor, t, twist)
        step = executor.step(t)
        if step.twist is not None:
            published.append((round(t, 4), step.twist))
            twist = step.twist
        t += dt
    return published


def test_open_loop_segments_end_on_time_then_zero():
    ex = MotionExecutor(publish_period=0.05)
    ex.start([TwistSegment(0.5, 0.0, 1.0, distance=0.5), TwistSegment(0.0, -0.5, 0.5)])
    out = run(ex, 2.0)
    moving = [t for t, tw in out if tw == (0.5, 0.0)]
    turning = [t for t, tw in out if tw == (0.0, -0.5)]
    assert moving[0] == 0.0 and moving[-1] < 1.0 and turning[0] == pytest.approx(1.0)
    assert turning[-1] < 1.5 and out[-1] == (pytest.approx(1.5), (0.0, 0.0))
    assert not ex.active


def test_step_wakes_exactly_at_the_segment_end():
    ex = MotionExecutor(publish_period=0.05)
    ex.start([TwistSegment(0.5, 0.0, 0.123)])
    assert ex.step(0.1).wake_at == pytest.approx(0.15)
    assert ex.step(0.2).wake_at == pytest.approx(0.223)


def fake_odometry(scale):
    """A robot that drives at `scale` x the commanded speed, pose published every step."""
    state = {"x": 0.0, "yaw": 0.0, "t": 0.0}

    def feed(executor, t, twist):
        dt = t - state["t"]
        state["x"] += scale * twist[0] * dt
        state["yaw"] += scale * twist[1] * dt
        state["t"] = t
        executor.update_odometry(state["x"], 0.0, state["yaw"], t)
    return feed, state


@pytest.mark.parametrize("scale", [0.8, 1.0, 1.2])
def test_odometry_closes_the_move(scale):
    ex = MotionExecutor(publish_period=0.05)
    feed, state = fake_odometry(scale)
    feed(ex, 0.0, (0.0, 0.0))
    ex.start([TwistSegment(0.5, 0.0, 2.0, distance=1.0)])
    run(ex, 4.0, odom=feed)
    assert state["x"] == pytest.approx(1.0, abs=0.01)  # open loop would give `scale` m


def test_odometry_closes_a_turn_past_pi():
    ex = MotionExecutor(publish_period=0.05)
    feed, state = fake_odometry(0.9)
    feed(ex, 0.0, (0.0, 0.0))
    ex.start([TwistSegment(0.0, 1.0, 1.5 * math.pi, angle=1.5 * math.pi)])
    run(ex, 10.0, odom=feed)
    assert state["yaw"] == pytest.approx(1.5 * math.pi, abs=0.02)


def test_stuck_robot_times_out():
    ex = MotionExecutor(publish_period=0.05)
    feed, state = fake_odometry(0.0)  # wheels spin, robot does not move
    feed(ex, 0.0, (0.0, 0.0))
    ex.start([TwistSegment(0.5, 0.0, 1.0, distance=0.5)])
    out = run(ex, 3.0, odom=feed)
    last_moving = max(t for t, tw in out if tw != (0.0, 0.0))
    assert last_moving == pytest.approx(CLOSED_LOOP_TIMEOUT * 1.0, abs=0.06)
    assert out[-1][1] == (0.0, 0.0)


def test_stale_odometry_means_open_loop():
    ex = MotionExecutor(publish_period=0.05, odom_timeout=0.5)
    ex.update_odometry(0.0, 0.0, 0.0, now=0.0)
    ex.start([TwistSegment(0.5, 0.0, 1.0, distance=0.5)])
    out = run(ex, 2.5, start=1.0)  # odometry is 1 s old at the start
    assert max(t for t, tw in out if tw != (0.0, 0.0)) < 2.0


def test_starved_loop_aborts():
    ex = MotionExecutor(publish_period=0.05, cmd_vel_timeout=0.5)
    ex.start([TwistSegment(0.5, 0.0, 5.0)])
    assert ex.step(0.0).twist == (0.5, 0.0)
    step = ex.step(0.9)
    assert step.twist == (0.0, 0.0) and "cmd_vel_timeout" in step.event and not ex.active


def test_halt_and_preempt():
    ex = MotionExecutor(publish_period=0.05)
    ex.start([TwistSegment(0.5, 0.0, 5.0)])
    ex.step(0.0)
    ex.start([TwistSegment(0.0, 0.5, 1.0)])
    assert ex.step(0.1).twist == (0.0, 0.5)
    assert ex.halt() and not ex.halt()
    assert ex.step(0.2).twist is None


# ---------------------------------------------------------------- parameters

def test_yaml_defaults_match_the_parameter_table():
    data = yaml.safe_load((ROOT / "config" / "controller.yaml").read_text())
    values = data["/**"]["ros__parameters"]
    assert values == DEFAULTS
    for name, value in values.items():  # ROS types: a YAML 1 is not a double
        assert type(value) is type(DEFAULTS[name]), name
    assert all(p.description for p in PARAMETERS)


@pytest.mark.parametrize("override, message", [
    ({"model_backend": "llama"}, "model_backend"),
    ({"max_linear_speed": -1.0}, "max_linear_speed"),
    ({"default_linear_speed": 2.0}, "default_linear_speed exceeds"),
    ({"publish_rate_hz": 0.0}, "publish_rate_hz"),
    ({"publish_rate_hz": 1.0}, "cmd_vel_timeout"),
    ({"max_command_chars": 0}, "max_command_chars"),
    ({"cmd_vel_topic": " "}, "cmd_vel_topic"),
    ({"max_duration": float("inf")}, "max_duration"),
])
def test_bad_parameters(override, message):
    with pytest.raises(ValueError, match=message):
        make_config(override)

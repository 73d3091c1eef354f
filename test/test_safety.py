"""Safety planner: REP-103 signs, unit conversion, clamping and refusals."""
import math

import pytest

from robot_sft.response_format import (
    SHAPE_SIDES, Move, Navigate, Refuse, Shape, Status, Stop, TimedMove, Turn,
)
from robot_sft.safety import (
    MOTION_ANNOUNCEMENT, PlanError, SafetyLimits, TwistSegment, clamp_twist, describe_plan,
    describe_segment, plan_twists,
)

LIMITS = SafetyLimits()


@pytest.mark.parametrize("action, linear_x, angular_z, duration", [
    (Move(2.0), 0.5, 0.0, 4.0),
    (Move(-1.0), -0.5, 0.0, 2.0),
    (Move(50, "cm"), 0.5, 0.0, 1.0),
    (Move(500, "mm", speed=0.25), 0.25, 0.0, 2.0),
    (Move(1, "ft"), 0.5, 0.0, 0.3048 / 0.5),
    (Move(10, "in", speed=10, speed_unit="cm/s"), 0.1, 0.0, 0.254 / 0.1),
    (Move(1.0, pace="slow"), 0.25, 0.0, 4.0),
    (Move(1.6, pace="fast"), 0.8, 0.0, 2.0),
    (Turn(90), 0.0, 0.5, math.pi),            # left = counter-clockwise = +z
    (Turn(-90), 0.0, -0.5, math.pi),          # right = clockwise = -z
    (Turn(1, "rad", speed=0.25), 0.0, 0.25, 4.0),
    (Turn(180, speed=45, speed_unit="deg/s"), 0.0, math.pi / 4, 4.0),
    (TimedMove(3, "forward"), 0.5, 0.0, 3.0),
    (TimedMove(3, "backward", speed=0.2), -0.2, 0.0, 3.0),
    (TimedMove(0.5, "right", "min", pace="slow"), 0.0, -0.25, 30.0),
    (TimedMove(2, "left"), 0.0, 0.5, 2.0),
])
def test_single_action_plans(action, linear_x, angular_z, duration):
    (segment,) = plan_twists([action], LIMITS)
    assert segment.linear_x == pytest.approx(linear_x)
    assert segment.angular_z == pytest.approx(angular_z)
    assert segment.duration == pytest.approx(duration)


def test_odometry_targets_are_signed_si():
    forward, turn = plan_twists([Move(-30, "cm"), Turn(-180)], LIMITS)
    assert forward.distance == pytest.approx(-0.3)
    assert turn.angle == pytest.approx(-math.pi)


@pytest.mark.parametrize("action", [
    Move(2.0, speed=10.0), Turn(90, speed=100.0), TimedMove(1, "left", speed=9.0),
    Move(2.0, speed=900, speed_unit="cm/s"), Turn(90, speed=90, speed_unit="deg/s"),
])
def test_explicit_speeds_over_the_limit_are_refused(action):
    plan = plan_twists([action], LIMITS)
    assert isinstance(plan, PlanError) and "speed" in plan.reason


@pytest.mark.parametrize("action", [
    Move(2.0, pace="fast"), Turn(90, pace="fast"), TimedMove(1, "left", pace="fast"),
])
def test_paces_over_the_limit_are_clamped_and_flagged(action):
    limits = SafetyLimits(max_linear_speed=0.6, max_angular_speed=0.6)
    (segment,) = plan_twists([action], limits)
    assert abs(segment.linear_x) <= limits.max_linear_speed
    assert abs(segment.angular_z) <= limits.max_angular_speed
    assert segment.clamped
    assert abs(segment.linear_x) <= LIMITS.max_linear_speed
    assert abs(segment.angular_z) <= LIMITS.max_angular_speed
    assert segment.clamped
    assert "clamped" in describe_plan([segment])


@pytest.mark.parametrize("actions, reason", [
    ([Move(11.0)], "distance"),
    ([Move(-40, "ft")], "distance"),
    ([Turn(721)], "angle"),
    ([TimedMove(61, "forward")], "limit"),
    ([TimedMove(2, "forward", "min")], "limit"),
    ([Move(9.0, speed=0.1)], "last"),  # 90 s at 0.1 m/s is over max_duration
    ([Move(1.0), Refuse("unsafe")], "refused"),
    ([Stop()] * 17, "actions"),
    ([Shape("square", 11.0)], "distance"),                 # every side is checked
    ([Shape("triangle", 40, "ft", -1)], "distance"),
    ([Shape("square", 1.0, speed=10.0)], "speed"),
    ([Shape("square", 9.0, speed=0.1)], "last"),
    ([Shape("hexagon", 1.0), Shape("hexagon", 1.0)], "actions"),  # 24 moves and turns
    ([Shape("square", 1.0), Refuse("unsafe")], "refused"),
])
def test_unbounded_or_refused_plans_move_nothing(actions, reason):
    plan = plan_twists(actions, LIMITS)
    assert isinstance(plan, PlanError)
    assert reason in plan.reason
    assert not plan


def test_non_motion_actions_plan_no_twist_and_stop_plans_zero():
    assert plan_twists([Navigate("dock"), Status("battery")], LIMITS) == []
    (stop,) = plan_twists([Stop()], LIMITS)
    assert stop.is_stop and stop.duration == 0.0


def test_zero_length_moves_are_skipped():
    assert plan_twists([Move(0.0), Turn(0.0)], LIMITS) == []


def test_square_plan():
    segments = plan_twists([Move(1.0), Turn(90)] * 4, LIMITS)
    assert len(segments) == 8
    assert sum(s.angle or 0 for s in segments) == pytest.approx(2 * math.pi)


@pytest.mark.parametrize("shape", [
    Shape("square", 1.0), Shape("triangle", 50, "cm", -1, pace="slow"),
    Shape("pentagon", 2, "ft", speed=0.2), Shape("hexagon", 0.5, pace="fast"),
])
def test_a_shape_plans_as_its_moves_and_turns(shape):
    segments = plan_twists([shape], LIMITS)
    assert segments == plan_twists(shape.expand(), LIMITS)
    assert len(segments) == 2 * SHAPE_SIDES[shape.name]
    assert sum(s.angle or 0 for s in segments) == pytest.approx(2 * math.pi * shape.direction)


def test_a_shape_speed_is_along_the_sides_and_a_pace_applies_to_both():
    side, turn = plan_twists([Shape("square", 1.0, speed=0.2)], LIMITS)[:2]
    assert (side.linear_x, turn.angular_z) == (pytest.approx(0.2), pytest.approx(0.5))
    side, turn = plan_twists([Shape("square", 1.0, pace="slow")], LIMITS)[:2]
    assert (side.linear_x, turn.angular_z) == (pytest.approx(0.25), pytest.approx(0.25))


@pytest.mark.parametrize("linear, angular, expected", [
    (0.3, -0.2, (0.3, -0.2)),
    (5.0, -9.0, (1.0, -1.5)),
    (float("nan"), float("inf"), (0.0, 0.0)),
    (-float("inf"), 0.0, (0.0, 0.0)),
])
def test_clamp_twist(linear, angular, expected):
    assert clamp_twist(linear, angular, LIMITS) == expected


@pytest.mark.parametrize("kwargs", [
    {"max_linear_speed": 0}, {"max_angular_speed": -1}, {"max_distance": float("nan")},
    {"default_linear_speed": 2.0}, {"max_actions": True},
])
def test_invalid_limits_are_rejected(kwargs):
    with pytest.raises(ValueError):
        SafetyLimits(**kwargs)


def test_describe_plan_matches_tutorial_wording():
    text = describe_plan([TwistSegment(0.5, 0.0, 4.0, distance=2.0)])
    assert text == "Publishing cmd_vel with linear.x=0.5 for 4.00 seconds."


@pytest.mark.parametrize("segment, moves", [
    (TwistSegment(0.5, 0.0, 4.0, distance=2.0), True),
    (TwistSegment(0.0, -0.5, math.pi, angle=-math.pi / 2), True),
    (TwistSegment(-1.0, 0.0, 1.0, clamped=True), True),
    (TwistSegment(0.0, 0.0, 0.0), False),
])
def test_motion_announcement_marks_exactly_the_moving_segments(segment, moves):
    """robot_sft.sim.session waits for motion after a reply containing MOTION_ANNOUNCEMENT."""
    assert describe_segment(segment).startswith(MOTION_ANNOUNCEMENT) == moves

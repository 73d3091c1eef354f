"""Safety limits and the only path from parsed actions to velocity commands.

Pure Python (no rclpy): the node converts `TwistSegment`s to geometry_msgs/Twist.
Conventions follow REP-103: linear.x > 0 drives forward, angular.z > 0 turns
left (counter-clockwise seen from above).

Policy: an explicit speed above a limit ("at 10 m/s") is refused, like a distance,
angle or duration above its limit: doing less than was asked, silently, is a wrong
motion. Relative paces ("quickly") are clamped to the limit, and every Twist is
clamped again before it is published.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from robot_sft.response_format import (
    ANGLE_UNITS, ANGULAR_SPEED_UNITS, DISTANCE_UNITS, LINEAR_SPEED_UNITS, TIME_UNITS,
    Action, Move, Navigate, Refuse, Status, Stop, TimedMove, Turn, expand_actions, format_number,
)


@dataclass(frozen=True)
class SafetyLimits:
    max_linear_speed: float = 1.0      # m/s
    max_angular_speed: float = 1.5     # rad/s
    default_linear_speed: float = 0.5  # m/s, the tutorial's speed
    default_angular_speed: float = 0.5  # rad/s, the tutorial's speed
    slow_factor: float = 0.5           # "slowly" = default * slow_factor
    fast_factor: float = 1.6           # "quickly" = default * fast_factor (then clamped)
    max_distance: float = 10.0         # m per action
    max_angle: float = 4 * math.pi     # rad per action (two full turns)
    max_duration: float = 60.0         # s per action
    max_actions: int = 16              # actions per response

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"safety limit {f.name} must be a positive number, got {value!r}")
        if self.default_linear_speed > self.max_linear_speed:
            raise ValueError("default_linear_speed exceeds max_linear_speed")
        if self.default_angular_speed > self.max_angular_speed:
            raise ValueError("default_angular_speed exceeds max_angular_speed")


@dataclass(frozen=True)
class TwistSegment:
    """Publish (linear_x, angular_z) for `duration` seconds. With odometry the node
    may instead stop once `distance` metres / `angle` radians are covered."""

    linear_x: float
    angular_z: float
    duration: float
    distance: float | None = None  # signed metres, for odometry-closed moves
    angle: float | None = None     # signed radians, for odometry-closed turns
    clamped: bool = False          # the requested speed was above the limit

    @property
    def is_stop(self) -> bool:
        return self.linear_x == 0.0 and self.angular_z == 0.0


@dataclass(frozen=True)
class PlanError:
    """The actions must not be executed; `reason` says why (shown to the user)."""

    reason: str

    def __bool__(self) -> bool:
        return False


def clamp_twist(linear_x: float, angular_z: float, limits: SafetyLimits) -> tuple[float, float]:
    """Last line of defence before publishing: finite and within the speed limits."""
    def clamp(value, limit):
        value = float(value)
        if not math.isfinite(value):
            return 0.0
        return max(-limit, min(limit, value))
    return clamp(linear_x, limits.max_linear_speed), clamp(angular_z, limits.max_angular_speed)


def _speed(action, linear: bool, limits: SafetyLimits) -> tuple[float, bool] | PlanError:
    default = limits.default_linear_speed if linear else limits.default_angular_speed
    limit = limits.max_linear_speed if linear else limits.max_angular_speed
    if action.speed is not None:
        table = LINEAR_SPEED_UNITS if linear else ANGULAR_SPEED_UNITS
        speed = action.speed * table[action.speed_unit]
        if speed > limit:
            unit = "m/s" if linear else "rad/s"
            return PlanError(f"speed {speed:.3g} {unit} exceeds the limit of "
                             f"{format_number(limit)} {unit}")
    elif action.pace == "slow":
        speed = default * limits.slow_factor
    elif action.pace == "fast":
        speed = default * limits.fast_factor
    else:
        speed = default
    return min(speed, limit), speed > limit


def plan_action(action: Action, limits: SafetyLimits) -> TwistSegment | PlanError | None:
    """One action -> one segment; None for actions that do not move the base."""
    if isinstance(action, Refuse):
        return PlanError(f"refused: {action.reason}")
    if isinstance(action, (Navigate, Status)):
        return None
    if isinstance(action, Stop):
        return TwistSegment(0.0, 0.0, 0.0)
    if isinstance(action, Move):
        metres = action.distance * DISTANCE_UNITS[action.unit]
        if abs(metres) > limits.max_distance:
            return PlanError(f"distance {abs(metres):.2f} m exceeds the limit of "
                             f"{format_number(limits.max_distance)} m")
        return _segment(action, True, metres, abs(metres), limits, distance=metres)
    if isinstance(action, Turn):
        radians = action.angle * ANGLE_UNITS[action.unit]
        if abs(radians) > limits.max_angle:
            return PlanError(f"angle {math.degrees(abs(radians)):.0f} deg exceeds the limit of "
                             f"{math.degrees(limits.max_angle):.0f} deg")
        return _segment(action, False, radians, abs(radians), limits, angle=radians)
    if isinstance(action, TimedMove):
        sign = 1.0 if action.direction in ("forward", "left") else -1.0
        return _segment(action, action.is_linear, sign, None, limits,
                        duration=action.duration * TIME_UNITS[action.unit])
    return PlanError(f"unknown action {action!r}")


def _segment(action, linear: bool, sign: float, amount: float | None, limits: SafetyLimits,
             duration: float | None = None, **targets) -> TwistSegment | PlanError:
    """A segment at the action's speed in the direction of `sign`, lasting `duration`
    or as long as `amount` (m or rad) takes at that speed."""
    speed = _speed(action, linear, limits)
    if isinstance(speed, PlanError):
        return speed
    speed, clamped = speed
    velocity = math.copysign(speed, sign)
    duration = amount / speed if duration is None else duration
    segment = TwistSegment(velocity if linear else 0.0, 0.0 if linear else velocity, duration,
                           clamped=clamped, **targets)
    return _bounded(segment, limits)


def _bounded(segment: TwistSegment, limits: SafetyLimits) -> TwistSegment | PlanError:
    if segment.duration > limits.max_duration:
        return PlanError(f"motion would last {segment.duration:.1f} s, over the limit of "
                         f"{format_number(limits.max_duration)} s")
    return segment


def plan_twists(actions, limits: SafetyLimits | None = None) -> list[TwistSegment] | PlanError:
    """Actions -> velocity segments, all within `limits`; or a PlanError and no motion
    at all (a response is executed whole or not at all). A Shape is planned as its moves
    and turns, each checked (and counted) like a written-out one."""
    limits = limits or SafetyLimits()
    actions = expand_actions(actions)
    if len(actions) > limits.max_actions:
        return PlanError(f"{len(actions)} actions exceed the limit of {limits.max_actions}")
    segments: list[TwistSegment] = []
    for action in actions:
        planned = plan_action(action, limits)
        if isinstance(planned, PlanError):
            return planned
        if planned is not None and (planned.duration > 0 or planned.is_stop):
            segments.append(planned)
    return segments


# How describe_segment announces a moving segment: a reply containing it means motion
# follows (robot_sft.sim.session waits for that motion).
MOTION_ANNOUNCEMENT = "Publishing cmd_vel with"


def describe_segment(segment: TwistSegment) -> str:
    """The tutorial's derived sentence, computed here rather than by the model."""
    if segment.is_stop:
        return "Publishing zero cmd_vel."
    axis, value = ("linear.x", segment.linear_x) if segment.linear_x else ("angular.z", segment.angular_z)
    note = " (speed clamped to the limit)" if segment.clamped else ""
    return f"{MOTION_ANNOUNCEMENT} {axis}={value:.3g} for {segment.duration:.2f} seconds{note}."


def describe_plan(segments) -> str:
    return " ".join(describe_segment(s) for s in segments)

"""From the model's text to what the node says and does.

Pure Python. The /response text is rebuilt from the PARSED actions
(`render_response`), with status slots filled from live sensors and the motion
described from the plan (`describe_plan`): a number the model invented
("charge=78%") never reaches the user or the wheels. Given the command, an answer
whose numbers, units, directions or places the command does not contain
(robot_sft.grounding) is refused as unclear before anything is planned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from robot_sft.geometry import wrap_angle
from robot_sft.grounding import check_grounding
from robot_sft.places import Place, place_key
from robot_sft.response_format import (
    REFUSAL_REASONS, STATUS_SLOTS, Navigate, ParseError, Refuse, parse_response,
    render_response,
)
from robot_sft.safety import PlanError, SafetyLimits, TwistSegment, describe_plan, plan_twists


@dataclass(frozen=True)
class Reply:
    text: str                                  # for /response
    segments: list[TwistSegment] = field(default_factory=list)  # empty: do not move
    goal: Place | None = None                  # for /goal_pose
    ok: bool = True                            # False: an error was reported, nothing executed
    ungrounded: tuple[str, ...] = ()           # what the answer said that the command did not


def battery_text(percentage: float | None, voltage: float | None) -> str:
    """BatteryState -> "78% charge, 25.2 V". `percentage` is 0..1 (REP: NaN if unknown)."""
    parts = []
    if percentage is not None and math.isfinite(percentage):
        parts.append(f"{100.0 * percentage:.0f}% charge")
    if voltage is not None and math.isfinite(voltage) and voltage > 0:
        parts.append(f"{voltage:.1f} V")
    return ", ".join(parts) or "unknown (the battery reports neither charge nor voltage)"


def obstacles_text(ranges, angle_min: float, angle_increment: float,
                   range_min: float, range_max: float) -> str:
    """LaserScan -> the nearest valid return with its bearing (+ is left, REP-103)."""
    best = None
    for i, r in enumerate(ranges):
        if math.isfinite(r) and range_min <= r <= range_max and (best is None or r < best[0]):
            best = (r, angle_min + i * angle_increment)
    if best is None:
        return f"no obstacle within {range_max:.1f} m" if math.isfinite(range_max) \
            else "no obstacle detected"
    bearing = math.degrees(wrap_angle(best[1]))
    side = "ahead" if abs(bearing) < 1 else ("left" if bearing > 0 else "right")
    return f"nearest obstacle {best[0]:.2f} m at {bearing:.0f} deg ({side})"


def fill_status_slots(text: str, battery: str, obstacles: str) -> str:
    return text.replace(STATUS_SLOTS["battery"], battery).replace(STATUS_SLOTS["obstacles"], obstacles)


UNCLEAR = render_response([Refuse(REFUSAL_REASONS["unclear"])])


def build_reply(model_text: str, limits: SafetyLimits, places: dict[str, Place],
                battery: str, obstacles: str, command: str | None = None) -> Reply:
    """Parse, ground (when the `command` is given), plan and describe one model answer.
    Never raises on any text."""
    actions = parse_response(model_text)
    if isinstance(actions, ParseError):
        return Reply(f"Not moving: could not understand the model's answer: {actions.message}.",
                     ok=False)
    findings = tuple(check_grounding(command, actions)) if command is not None else ()
    if findings:
        return Reply(f"{UNCLEAR}\nNot moving: the answer says what the command does not "
                     f"({'; '.join(findings)}).", ok=False, ungrounded=findings)
    said = fill_status_slots(render_response(actions), battery, obstacles)
    plan = plan_twists(actions, limits)
    if isinstance(plan, PlanError):
        if all(isinstance(a, Refuse) for a in actions):
            return Reply(said, ok=False)
        return Reply(f"{said}\nNot moving: {plan.reason}.", ok=False)
    navigations = [a for a in actions if isinstance(a, Navigate)]
    if not navigations:
        return Reply(f"{said}\n{describe_plan(plan)}" if plan else said, plan)
    if len(navigations) > 1 or any(not s.is_stop for s in plan):
        return Reply(f"{said}\nNot moving: navigation cannot be combined with other motion.",
                     ok=False)
    name = place_key(navigations[0].place)
    if name not in places:
        known = ", ".join(sorted(places)) or "none configured"
        return Reply(f"{said}\nNot moving: unknown place '{name}'. Known places: {known}.",
                     ok=False)
    return Reply(f"{said}\nGoal: {places[name].describe()}.", goal=places[name])


"""robot_sft.executor without ROS: a simulated robot on an explicit clock, whose
odometry arrives late, drives the MotionExecutor event by event."""
import math

import pytest

from robot_sft.executor import MotionExecutor, message_age
from robot_sft.safety import TwistSegment

MOVE_1M = TwistSegment(0.5, 0.0, 2.0, distance=1.0)
TURN_90_RIGHT = TwistSegment(0.0, -0.5, math.pi, angle=-math.pi / 2)


def drive(segment, latency, odom_period=0.02, publish_period=0.05, scale=1.0,
          odom_until=math.inf, age_known=True, t_end=10.0):
    """Run one segment. The robot follows each published Twist at once, at `scale` x
    the commanded speed; its pose measured at t is delivered at t + latency (until
    `odom_until`), with its age if `age_known`. Returns (end time, travelled, events)."""
    ex = MotionExecutor(publish_period, odom_timeout=0.5, cmd_vel_timeout=0.5)
    changes = [(-1.0, 0.0)]  # (time, commanded linear_x or angular_z from then on)

    def amount_at(when):  # m or rad (signed) the robot has covered by `when`
        bounds = [t for t, _ in changes[1:]] + [math.inf]
        return sum(scale * v * max(0.0, min(when, end) - t)
                   for (t, v), end in zip(changes, bounds))

    def pose(a):
        return (a, 0.0, 0.0) if segment.distance is not None else (0.0, 0.0, a)

    ex.update_odometry(*pose(0.0), now=-0.5)  # odometry live before the command
    ex.start([segment])
    measured = [k * odom_period for k in range(int(-0.4 / odom_period), int(t_end / odom_period))]
    deliveries = [(m + latency, m) for m in measured if m + latency >= 0.0 and m <= odom_until]
    wake, events = 0.0, []
    while wake is not None and wake < t_end:
        if deliveries and deliveries[0][0] < wake:  # an odometry message first
            t, m = deliveries.pop(0)
            if ex.update_odometry(*pose(amount_at(m)), now=t,
                                  age=(t - m) if age_known else 0.0):
                wake = t  # covered: the node steps at once
            continue
        t = wake
        step = ex.step(t)
        events.append(step.event)
        if step.twist is not None and step.twist[0] + step.twist[1] != changes[-1][1]:
            changes.append((t, step.twist[0] + step.twist[1]))
        if step.twist == (0.0, 0.0):
            return t, amount_at(t), [e for e in events if e]
        wake = step.wake_at
    raise AssertionError(f"segment still running at t={t_end}: {events}")


@pytest.mark.parametrize("segment", [MOVE_1M, TURN_90_RIGHT])
@pytest.mark.parametrize("latency", [0.0, 0.03, 0.1, 0.25])
def test_stale_odometry_ends_at_the_predicted_crossing(segment, latency):
    """Odometry `latency` s old: the segment still ends when the robot reaches the target."""
    end, travelled, events = drive(segment, latency)
    target = segment.distance if segment.distance is not None else segment.angle
    assert travelled == pytest.approx(target, abs=1e-6)
    assert end == pytest.approx(segment.duration, abs=1e-6)  # on the crossing, between ticks
    assert "ended by odometry" in events[-1]


@pytest.mark.parametrize("latency", [0.1, 0.25])
def test_stale_odometry_without_its_age_overshoots(latency):
    """What the prediction fixes: taking a 0.1 s old pose for now overshoots by speed x age."""
    _, travelled, _ = drive(MOVE_1M, latency, age_known=False)
    assert travelled == pytest.approx(1.0 + 0.5 * latency, abs=0.5 * 0.02 + 1e-6)


def test_a_slow_robot_is_still_closed_on_its_odometry():
    """20 % slower than commanded: the prediction runs ahead by the speed error x the
    pose's age (latency + one odometry period) only, not by 0.2 m as open loop would."""
    end, travelled, _ = drive(MOVE_1M, latency=0.05, odom_period=0.02, scale=0.8)
    assert 1.0 - 0.1 * (0.05 + 0.02) - 1e-6 <= travelled <= 1.0 + 1e-6
    assert 2.0 < end < 2.0 * 1.5


def test_lost_odometry_is_not_extrapolated_for_ever():
    """Odometry stops at half way: the prediction is capped at odom_timeout, so the
    segment ends on time (open loop), not when a runaway prediction says so."""
    end, travelled, events = drive(MOVE_1M, latency=0.0, odom_until=1.0)
    assert end == pytest.approx(2.0, abs=1e-6) and travelled == pytest.approx(1.0, abs=1e-6)
    assert "time (odometry lost)" in events[-1]


def test_a_stuck_robot_still_times_out():
    end, _, events = drive(MOVE_1M, latency=0.05, scale=0.0)
    assert end == pytest.approx(1.5 * 2.0, abs=1e-6) and "odometry time-out" in events[-1]


S = 10**9


@pytest.mark.parametrize("stamp, now, received, wall_now, age", [
    (100 * S, 100 * S + S // 10, 0, 0, 0.1),              # stamp against the node clock
    (100 * S, 100 * S + S // 10, 5 * S, 5 * S + S, 0.1),  # the stamp wins over receive time
    (100 * S + S // 100, 100 * S, 0, 0, 0.0),            # a little ahead (skew): not negative
    (0, 100 * S, 5 * S, 5 * S + S // 20, 0.05),          # no stamp: the DDS receive time
    (1 * S, 100 * S, 5 * S, 5 * S + S // 20, 0.05),      # stamp from another clock: same
    (0, 100 * S, 0, 0, 0.0),                             # nothing known: measured now
    (0, 100 * S, 5 * S, 3 * S, 0.0),                     # receive time in the future
])
def test_message_age(stamp, now, received, wall_now, age):
    assert message_age(stamp, now, received, wall_now) == pytest.approx(age)

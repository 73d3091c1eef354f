"""robot_sft.executor without ROS: a simulated robot on an explicit clock, whose
odometry arrives late, drives the MotionExecutor event by event."""
import math

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from robot_sft.executor import MotionExecutor, message_age, odometry_problem
from robot_sft.safety import TwistSegment

MOVE_1M = TwistSegment(0.5, 0.0, 2.0, distance=1.0)
TURN_90_RIGHT = TwistSegment(0.0, -0.5, math.pi, angle=-math.pi / 2)


def run(segment, deliveries, publish_period=0.05, scale=1.0, age_known=True, t_end=10.0,
        to_the_end=False, **options):
    """Run one segment on a MotionExecutor (`options`). The robot follows each published
    Twist at once, at `scale` x the commanded speed; `deliveries` are (delivered at,
    measured at) odometry times, each message its age if `age_known`. Ends at the first
    zero Twist, or with `to_the_end` when the executor has nothing left to do. Returns
    (end time, travelled, events, seconds moving)."""
    ex = MotionExecutor(publish_period, odom_timeout=0.5, cmd_vel_timeout=0.5, **options)
    changes = [(-1.0, 0.0)]  # (time, commanded linear_x or angular_z from then on)

    def amount_at(when):  # m or rad (signed) the robot has covered by `when`
        bounds = [t for t, _ in changes[1:]] + [math.inf]
        return sum(scale * v * max(0.0, min(when, end) - t)
                   for (t, v), end in zip(changes, bounds))

    def pose(a):
        return (a, 0.0, 0.0) if segment.distance is not None else (0.0, 0.0, a)

    ex.update_odometry(*pose(0.0), now=-0.01)  # odometry live before the command
    ex.start([segment])
    deliveries = list(deliveries)
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
        events += [e for e in (step.event, step.stopped) if e]
        if step.twist is not None and step.twist[0] + step.twist[1] != changes[-1][1]:
            changes.append((t, step.twist[0] + step.twist[1]))
        wake = step.wake_at
        if (step.twist == (0.0, 0.0) and not to_the_end) or wake is None:
            moving = sum(min(end, t) - start for (start, v), end in
                         zip(changes, [c for c, _ in changes[1:]] + [t]) if v)
            return t, amount_at(t), events, moving
    raise AssertionError(f"segment still running at t={t_end}: {events}")


def drive(segment, latency, odom_period=0.02, odom_until=math.inf, t_end=10.0, **options):
    """One segment to its first zero Twist; its pose measured at t is delivered at t +
    latency (until `odom_until`). Returns (end time, travelled, events); `options` go to
    run()."""
    measured = [k * odom_period for k in range(int(-0.4 / odom_period), int(t_end / odom_period))]
    deliveries = [(m + latency, m) for m in measured if m + latency >= 0.0 and m <= odom_until]
    return run(segment, deliveries, t_end=t_end, **options)[:3]


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


def test_lost_odometry_stops_the_robot_and_says_so():
    """Odometry stops at half way: the robot stops once it is odom_timeout old (issue
    11: it used to drive on open loop for the rest of the planned time)."""
    end, travelled, events = drive(MOVE_1M, latency=0.0, odom_until=1.0)
    assert end == pytest.approx(1.0 + 0.5, abs=1e-3) and travelled < 1.0
    assert events[-1].startswith("Stopped: odometry lost") and "of 1.00 m" in events[-1]


def drive_through_gap(segment, gap, odom_loss_wait, odom_period=0.02, t_end=10.0):
    """One segment to its end, the robot's odometry silent while measured in `gap`
    ([start, end) s) and on time otherwise. Returns (end time, travelled, events, moving
    time)."""
    measured = [k * odom_period for k in range(int(t_end / odom_period))]
    deliveries = [(m, m) for m in measured if not gap[0] <= m < gap[1]]
    return run(segment, deliveries, t_end=t_end, to_the_end=True, odom_loss_wait=odom_loss_wait)


@pytest.mark.parametrize("segment", [MOVE_1M, TURN_90_RIGHT])
def test_odometry_back_within_the_wait_resumes_the_move(segment):
    """Odometry silent for 1 s in the middle of a move: the robot holds still once it is
    lost and finishes the move on the returning odometry (it used to stop the plan)."""
    end, travelled, events, moving = drive_through_gap(segment, (0.6, 1.6), odom_loss_wait=2.0)
    target = segment.distance if segment.distance is not None else segment.angle
    assert travelled == pytest.approx(target, abs=0.03)
    assert not any(e.startswith("Stopped") for e in events)
    assert any("odometry lost: holding still" in e for e in events)
    assert any("odometry back after holding" in e for e in events)
    assert moving == pytest.approx(segment.duration, abs=0.1)  # held, not driven, while lost


def test_odometry_not_back_within_the_wait_stops_the_plan():
    end, travelled, events, _ = drive_through_gap(MOVE_1M, (0.6, 9.0), odom_loss_wait=1.0)
    # the last pose at 0.58 s; lost at 1.08 s (then held still); given up at 2.08 s
    assert end == pytest.approx(0.58 + 0.5 + 1.0, abs=0.01)
    assert travelled == pytest.approx(0.5 * 1.08, abs=0.03)
    assert events[-1].startswith("Stopped: odometry lost")


def test_a_hold_does_not_count_toward_the_move_time_out():
    """1.9 s held in a 2 s move (time-out 3 s): the move still ends on odometry."""
    end, travelled, events, _ = drive_through_gap(MOVE_1M, (0.6, 2.9), odom_loss_wait=2.0)
    assert travelled == pytest.approx(1.0, abs=0.03)
    assert "ended by odometry" in " ".join(events) and "time-out" not in " ".join(events)


def test_no_wait_is_the_old_behaviour_when_the_planned_time_is_up():
    """A slow robot whose odometry stops after the planned 2 s: without a wait the segment
    ends on time, as before odom_loss_wait; with one the robot holds (drive() returns at
    the hold's first zero Twist)."""
    _, _, events = drive(MOVE_1M, latency=0.0, scale=0.5, odom_until=2.2)
    assert "time (odometry lost)" in " ".join(events) and not events[-1].startswith("Stopped")
    _, _, events = drive(MOVE_1M, latency=0.0, scale=0.5, odom_until=2.2, odom_loss_wait=0.5)
    assert events[-1].startswith("odometry lost: holding still")


def test_lost_odometry_continues_open_loop_only_when_asked():
    """With open_loop_on_loss the prediction is capped at odom_timeout, so the segment
    ends on time (open loop), not when a runaway prediction says so."""
    end, travelled, events = drive(MOVE_1M, latency=0.0, odom_until=1.0, open_loop_on_loss=True)
    assert end == pytest.approx(2.0, abs=1e-6) and travelled == pytest.approx(1.0, abs=1e-6)
    assert "time (odometry lost)" in events[-1]


@pytest.mark.parametrize("segment", [MOVE_1M, TURN_90_RIGHT])
def test_no_progress_on_live_odometry_is_blocked(segment):
    """Odometry flows but shows no motion (a wall, a lifted robot, a frozen driver):
    stopped after stall_timeout, long before the 1.5 x duration time-out."""
    end, travelled, events = drive(segment, latency=0.02, scale=0.0, stall_timeout=1.0)
    assert end == pytest.approx(1.0, abs=0.06) and travelled == 0.0
    assert events[-1].startswith("Stopped: blocked (no progress on odometry")


def test_a_slow_but_moving_robot_is_not_blocked():
    _, travelled, events = drive(MOVE_1M, latency=0.02, scale=0.3, stall_timeout=1.0, t_end=20.0)
    assert not any(e.startswith("Stopped") for e in events) and travelled > 0.3


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


# ---------------------------------------------------------------- the state machine, fuzzed

def test_odometry_between_a_closed_and_a_timed_plan_does_not_crash():
    """Issue 11: "Move forward 2 m." (closed on odometry) then "Move forward for 3 s at
    0.2 m/s." with /odom flowing. An odometry message between start() and the first
    step() read the finished closed segment's state and raised TypeError
    (math.copysign(1.0, None)), which took the controller down."""
    ex = MotionExecutor(publish_period=0.05)
    ex.update_odometry(0.0, 0.0, 0.0, now=0.0)
    ex.start([TwistSegment(0.5, 0.0, 4.0, distance=2.0)])
    t, x = 0.0, 0.0
    while ex.active:
        step = ex.step(t)
        t += 0.02
        x += 0.5 * 0.02 if step.twist and step.twist[0] else 0.0
        ex.update_odometry(x, 0.0, 0.0, now=t)
    ex.start([TwistSegment(0.2, 0.0, 3.0)])
    assert not ex.update_odometry(x, 0.0, 0.0, now=t + 0.01)
    assert ex.step(t + 0.02).twist == (0.2, 0.0)


SEGMENTS = st.one_of(
    st.builds(lambda v, d: TwistSegment(v, 0.0, abs(d / v), distance=d),
              st.sampled_from([0.2, 0.5, -0.5]), st.floats(0.01, 3.0)),
    st.builds(lambda w, a: TwistSegment(0.0, w, abs(a / w), angle=a),
              st.sampled_from([0.5, -1.0]), st.floats(-4.0, 4.0).filter(lambda a: abs(a) > 0.01)),
    st.builds(lambda v, w, d: TwistSegment(v, w, d), st.floats(-1.0, 1.0), st.floats(-1.5, 1.5),
              st.floats(0.0, 3.0)),
)
ODD = st.one_of(st.floats(-100.0, 100.0), st.sampled_from([math.nan, math.inf, -math.inf]))


class MotionExecutorMachine(RuleBasedStateMachine):
    """Random interleavings of start / halt / odometry / step on one clock,
    with closed and timed segments, stale, late and non-finite odometry: no call
    raises, every Twist is finite and one of the plan's, every wake-up is finite."""

    @initialize(stall=st.sampled_from([math.inf, 0.5, 1.0]), open_loop=st.booleans(),
                use_odometry=st.booleans())
    def setup(self, stall, open_loop, use_odometry):
        self.ex = MotionExecutor(0.05, odom_timeout=0.5, cmd_vel_timeout=0.5,
                                 use_odometry=use_odometry, stall_timeout=stall,
                                 open_loop_on_loss=open_loop)
        self.now = 0.0
        self.planned = set()

    @rule(segments=st.lists(SEGMENTS, min_size=1, max_size=3))
    def start(self, segments):
        self.ex.start(segments)
        self.planned = {(s.linear_x, s.angular_z) for s in segments}

    @rule()
    def halt(self):
        self.ex.halt()

    @rule(x=ODD, y=ODD, yaw=ODD, age=st.one_of(st.floats(-1.0, 5.0), ODD),
          dt=st.floats(0.0, 0.3))
    def odometry(self, x, y, yaw, age, dt):
        self.now += dt
        assert self.ex.update_odometry(x, y, yaw, self.now, age) in (True, False)

    @rule(dt=st.floats(0.0, 1.0))
    def step(self, dt):
        self.now += dt
        step = self.ex.step(self.now)
        if step.twist is not None:
            assert all(math.isfinite(v) for v in step.twist)
            assert step.twist == (0.0, 0.0) or step.twist in self.planned, step
        assert step.wake_at is None or math.isfinite(step.wake_at)


TestMotionExecutorMachine = MotionExecutorMachine.TestCase
TestMotionExecutorMachine.settings = settings(max_examples=150, stateful_step_count=40,
                                              deadline=None)


class Q:
    def __init__(self, x=0.0, y=0.0, z=0.0, w=1.0):
        self.x, self.y, self.z, self.w = x, y, z, w


@pytest.mark.parametrize("x, q, stamp, problem", [
    (1.0, Q(), 100 * S, ""),                                  # a good pose
    (1.0, Q(), 0, ""),                                        # unset stamp: receive time dates it
    (math.nan, Q(), 100 * S, "non-finite"),
    (1.0, Q(w=math.nan), 100 * S, "non-finite"),
    (1.0, Q(w=0.0), 100 * S, "not a unit quaternion"),        # an all-zero orientation
    (1.0, Q(), 100 * S + S, "in the future"),                 # 1 s ahead of our clock
    (1.0, Q(), 100 * S - 5 * S, "s old"),                     # 5 s old: stale or another clock
])
def test_odometry_problem(x, q, stamp, problem):
    found = odometry_problem(x, 0.0, q, stamp, 100 * S)
    assert (problem in found) if problem else found == ""

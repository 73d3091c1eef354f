"""The motion state machine: which velocity to publish now, and when to stop.

Pure Python, driven by explicit timestamps (seconds on a monotonic clock), so it
is tested without ROS or sleeping. The node calls `step(now)` from its motion
thread and `update_odometry` from its /odom callback.

Each segment is open-loop (publish for `duration`) unless odometry is live when
the segment starts and the segment has a `distance`/`angle`: then it is closed on
odometry (stop once covered) with a time-out of `CLOSED_LOOP_TIMEOUT` x the planned
duration, so a stuck wheel or a stalled odometry cannot drive on for ever.

Odometry faults stop the robot and say why (`Step.stopped`): odometry that goes
silent during a closed-loop segment ("odometry lost"; finishing on the planned
time instead is `open_loop_on_loss`), and live odometry that shows no progress for
`stall_timeout` while motion is commanded ("blocked": a wall, a lifted robot,
slipping wheels, a frozen driver).

Odometry that goes silent and comes back is common (a driver or a DDS hop busy for a
moment): with `odom_loss_wait` > 0 the robot holds still once odometry is lost and
resumes the segment, closed on the returning odometry, if it is back within that wait;
only then is the plan abandoned. A held segment's time-out does not count the hold.

Odometry is always a little old (published, delivered, then queued behind other
callbacks): stopping when the last pose reaches the target overshoots by speed x
age (measured: 5 cm at 0.5 m/s on a loaded machine). So the covered amount is
*predicted*: the last pose plus the commanded speed x the age of that pose, and the
segment ends when the prediction reaches the target, on a timer set for the
predicted crossing rather than on the next odometry message or tick.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_sft.geometry import Pose2D, wrap_angle
from robot_sft.safety import TwistSegment

CLOSED_LOOP_TIMEOUT = 1.5  # x planned duration


@dataclass(frozen=True)
class Step:
    twist: tuple[float, float] | None  # (linear_x, angular_z) to publish now; None: nothing
    wake_at: float | None              # call step() again at this time; None: idle
    event: str = ""                    # something worth a log line ("segment 1/2 done ...")
    stopped: str = ""                  # the plan was abandoned: tell the user why


MAX_CLOCK_SKEW = 1.0  # s: a header stamp further off than this is from another clock
MAX_FUTURE_STAMP = 0.1  # s: a pose stamped further ahead of our clock is not believed


def message_age(stamp_ns: int, now_ns: int, received_ns: int = 0, wall_now_ns: int = 0) -> float:
    """Seconds since a message was measured. From its header stamp against the node's
    clock when the stamp is usable (set, and within MAX_CLOCK_SKEW of that clock);
    otherwise from its DDS receive time (`received_ns`, system clock) against
    `wall_now_ns`; otherwise 0 (as if measured now). Never negative."""
    if stamp_ns > 0 and abs(now_ns - stamp_ns) <= MAX_CLOCK_SKEW * 1e9:
        return max(0.0, (now_ns - stamp_ns) * 1e-9)
    if received_ns > 0 and 0 <= wall_now_ns - received_ns <= MAX_CLOCK_SKEW * 1e9:
        return (wall_now_ns - received_ns) * 1e-9
    return 0.0


def odometry_problem(x: float, y: float, q, stamp_ns: int, now_ns: int) -> str:
    """Why an odometry pose must not be believed ("" when it may): a non-finite
    position or orientation, a quaternion that is no rotation, or a header stamp in
    the future or older than MAX_CLOCK_SKEW. Such a message counts as no message:
    odometry that lies is lost odometry. An unset stamp (0) is allowed (simple drivers
    leave it; the DDS receive time dates the pose then)."""
    values = (x, y, q.x, q.y, q.z, q.w)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return "a non-finite pose"
    if abs(math.sqrt(q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w) - 1.0) > 0.1:
        return "an orientation that is not a unit quaternion"
    if stamp_ns > 0 and stamp_ns - now_ns > MAX_FUTURE_STAMP * 1e9:
        return f"a stamp {(stamp_ns - now_ns) * 1e-9:.2f} s in the future"
    if stamp_ns > 0 and now_ns - stamp_ns > MAX_CLOCK_SKEW * 1e9:
        return f"a stamp {(now_ns - stamp_ns) * 1e-9:.2f} s old"
    return ""


class MotionExecutor:
    def __init__(self, publish_period: float, odom_timeout: float = 0.5,
                 cmd_vel_timeout: float = 0.5, use_odometry: bool = True,
                 stall_timeout: float = math.inf, open_loop_on_loss: bool = False,
                 odom_loss_wait: float = 0.0):
        self.publish_period = publish_period
        self.odom_timeout = odom_timeout
        self.cmd_vel_timeout = cmd_vel_timeout
        self.use_odometry = use_odometry
        self.stall_timeout = stall_timeout
        self.open_loop_on_loss = open_loop_on_loss
        self.odom_loss_wait = odom_loss_wait
        self.pose: Pose2D | None = None
        self._segments: list[TwistSegment] = []
        self._index = 0
        self._last_publish: float | None = None
        self._reset_segment()

    def _reset_segment(self) -> None:
        """Forget the running segment's state: a new plan starts from nothing (a closed
        state left from an earlier segment once crashed the odometry callback)."""
        self._started_at: float | None = None  # start of the current segment
        self._closed = False                   # current segment is closed on odometry
        self._origin: Pose2D | None = None
        self._turned = 0.0                     # signed yaw accumulated since the origin
        self._progress_pose: Pose2D | None = None  # pose when progress was last seen
        self._progress_at: float | None = None     # ...and when
        self._held_since: float | None = None      # holding still for odometry since
        self._held = 0.0                           # seconds held in earlier holds

    @property
    def active(self) -> bool:
        return self._index < len(self._segments)

    @property
    def segment(self) -> TwistSegment | None:
        return self._segments[self._index] if self.active else None

    def start(self, segments) -> None:
        """Replace whatever runs now (preemption) with `segments`."""
        self._segments = list(segments)
        self._index = 0
        self._reset_segment()
        self._last_publish = None

    def halt(self) -> bool:
        """Drop the plan. True if something was running (the caller publishes zero)."""
        was_active = self.active
        self._segments, self._index = [], 0
        self._reset_segment()
        self._last_publish = None
        return was_active

    def odometry_live(self, now: float) -> bool:
        return self.pose is not None and now - self.pose.stamp <= self.odom_timeout

    def update_odometry(self, x: float, y: float, yaw: float, now: float,
                        age: float = 0.0) -> bool:
        """Record a pose measured `age` seconds before `now`. True when the segment
        running now is (predicted to be) covered: wake the loop. A non-finite pose
        is ignored (the node rejects lying odometry before it gets here)."""
        if not all(math.isfinite(v) for v in (x, y, yaw, now, age)):
            return False
        if self._closed and self.pose is not None and self.active:
            self._turned += wrap_angle(yaw - self.pose.yaw)
        # stamp: monotonic s when measured (the receive time if unknown)
        self.pose = Pose2D(x, y, yaw, now - max(0.0, age))
        return self.active and self._closed and self._started_at is not None \
            and self._covered(now)

    def progress(self) -> float:
        """Distance (m) or angle (rad) covered in the commanded direction, by the last
        odometry pose."""
        seg, origin, pose = self.segment, self._origin, self.pose
        if seg is None or origin is None or pose is None:
            return 0.0
        if seg.distance is not None:
            return math.hypot(pose.x - origin.x, pose.y - origin.y)
        if seg.angle is not None:
            return math.copysign(1.0, seg.angle) * self._turned
        return 0.0  # a timed segment covers no amount

    def _speed(self) -> float:
        """Commanded speed along the closed quantity (m/s or rad/s)."""
        seg = self.segment
        return abs(seg.linear_x if seg.distance is not None else seg.angular_z)

    def predicted_progress(self, now: float) -> float:
        """progress() plus the commanded speed x the age of the last pose: where the
        robot should be by now. Only time within this segment counts, and at most
        odom_timeout of it (older odometry is lost, not extrapolated for ever)."""
        pose = self.pose
        if pose is None or self._started_at is None:
            return self.progress()
        age = min(now - max(pose.stamp, self._started_at), self.odom_timeout)
        return self.progress() + self._speed() * max(0.0, age)

    def _target(self) -> float:
        seg = self.segment
        return abs(seg.distance if seg.distance is not None else seg.angle)

    def _covered(self, now: float) -> bool:
        # The tolerance: woken at the predicted crossing, rounding must not miss it.
        return self.predicted_progress(now) >= self._target() - 1e-9

    def _predicted_crossing(self, now: float) -> float:
        """When the prediction reaches the target if no newer pose arrives (inf: never)."""
        speed, remaining = self._speed(), self._target() - self.predicted_progress(now)
        return now + remaining / speed if speed > 0 else math.inf

    def _begin_segment(self, now: float) -> None:
        seg = self.segment
        self._reset_segment()
        self._started_at = now
        self._closed = (self.use_odometry and self.odometry_live(now) and not seg.is_stop
                        and (seg.distance is not None or seg.angle is not None))
        self._origin = self.pose if self._closed else None
        self._progress_pose, self._progress_at = self.pose, now

    def _no_progress_for(self, now: float) -> float:
        """Seconds for which live odometry has shown no progress while this segment
        commands motion (0 when it moves, when odometry is not live or not used).
        Progress: a quarter of what the commanded speed covers in stall_timeout."""
        seg, ref, pose = self.segment, self._progress_pose, self.pose
        if (not self.use_odometry or seg is None or seg.is_stop or pose is None
                or not self.odometry_live(now) or not math.isfinite(self.stall_timeout)):
            return 0.0
        if ref is None or self._progress_at is None:
            self._progress_pose, self._progress_at = pose, now
            return 0.0
        moved = math.hypot(pose.x - ref.x, pose.y - ref.y)
        turned = abs(wrap_angle(pose.yaw - ref.yaw))
        enough = 0.25 * self.stall_timeout
        if (seg.linear_x and moved >= enough * abs(seg.linear_x)) or \
                (seg.angular_z and turned >= enough * abs(seg.angular_z)):
            self._progress_pose, self._progress_at = pose, pose.stamp
            return 0.0
        return now - self._progress_at

    def _waits_for_odometry(self, now: float) -> bool:
        """A closed segment whose odometry is silent, and the plan is not to finish it
        open loop: hold still (within odom_loss_wait) or stop."""
        return self._closed and not self.open_loop_on_loss and not self.odometry_live(now)

    def _held_for(self, now: float) -> float:
        """Seconds this segment has held still waiting for odometry, the running hold too."""
        return self._held + (now - self._held_since if self._held_since is not None else 0.0)

    def _fault(self, now: float) -> str:
        """Why the plan must be abandoned now because of odometry ("" if not)."""
        if not self.active or self._started_at is None:
            return ""
        stalled = self._no_progress_for(now)
        if stalled >= self.stall_timeout:
            return f"blocked (no progress on odometry for {stalled:.1f} s)"
        if self._waits_for_odometry(now):
            silent = now - self.pose.stamp
            if silent > self.odom_timeout + self.odom_loss_wait:
                return f"odometry lost (no valid odometry for {silent:.2f} s)"
        return ""

    def _segment_done(self, now: float) -> str:
        """Why the current segment is over, or "" while it runs."""
        seg, elapsed = self.segment, now - self._started_at - self._held_for(now)
        if seg.is_stop:
            return "stop"
        if not self._closed:
            return "time" if elapsed >= seg.duration else ""
        if self._covered(now):
            return "odometry"
        if elapsed >= CLOSED_LOOP_TIMEOUT * seg.duration:
            return "odometry time-out"
        # Lost once the planned time is up: done on time, unless the robot waits for it.
        if (self.open_loop_on_loss or not self.odom_loss_wait) and not self.odometry_live(now) \
                and elapsed >= seg.duration:
            return "time (odometry lost)"
        return ""

    def step(self, now: float) -> Step:
        if not self.active:
            return Step(None, None)
        if (self._last_publish is not None
                and now - self._last_publish > self.cmd_vel_timeout):
            # The loop was starved: the base may have stopped on its own watchdog,
            # so the remaining open-loop timing would be wrong. Give up safely.
            gap = now - self._last_publish
            self.halt()
            return Step((0.0, 0.0), None, f"aborted: no cmd_vel for {gap:.2f} s "
                                          f"(cmd_vel_timeout); motion stopped",
                        f"Stopped: the motion loop was starved ({gap:.2f} s without cmd_vel).")
        events = []
        if self._started_at is None:
            self._begin_segment(now)
        while self.active and (reason := self._segment_done(now)):
            seg = self.segment
            events.append(f"segment {self._index + 1}/{len(self._segments)} ended by {reason}"
                          + (f" after {self.progress():.3f} measured, "
                             f"{self.predicted_progress(now):.3f} predicted"
                             if self._closed else ""))
            self._index += 1
            if self.active:
                self._begin_segment(now)
        event = "; ".join(events)
        fault = self._fault(now)
        if fault:
            seg, done = self.segment, self.progress()
            covered = (f" after {done:.2f} of {self._target():.2f} "
                       f"{'m' if seg.distance is not None else 'rad'}" if self._closed else "")
            self.halt()
            event = "; ".join(events + [f"motion stopped: {fault}"])
            return Step((0.0, 0.0), None, event, f"Stopped: {fault}{covered}.")
        if not self.active:
            self._last_publish = None
            return Step((0.0, 0.0), None, event)
        seg = self.segment
        self._last_publish = now
        if self._waits_for_odometry(now):  # within odom_loss_wait (else a fault above)
            if self._held_since is None:
                self._held_since = now
                event = "; ".join(events + [f"odometry lost: holding still up to "
                                            f"{self.odom_loss_wait:.2f} s for it to return"])
            give_up = self.pose.stamp + self.odom_timeout + self.odom_loss_wait + 1e-6
            return Step((0.0, 0.0), min(now + self.publish_period, give_up), event)
        if self._held_since is not None:  # odometry is back: go on from where the robot is
            held, self._held_since = now - self._held_since, None
            self._held += held
            self._progress_pose, self._progress_at = self.pose, now
            event = "; ".join(events + [f"odometry back after holding {held:.2f} s: resuming"])
        wake = now + self.publish_period
        if not self._closed:  # end exactly on time rather than on the next tick
            wake = min(wake, self._started_at + seg.duration)
        else:  # ...and on the predicted crossing, not on the tick or message after it
            wake = min(wake, self._started_at + self._held + CLOSED_LOOP_TIMEOUT * seg.duration,
                       self._predicted_crossing(now))
            if not self.open_loop_on_loss and self.pose is not None:  # ...and on odometry loss
                wake = min(wake, self.pose.stamp + self.odom_timeout + 1e-6)
        return Step((seg.linear_x, seg.angular_z), wake, event)

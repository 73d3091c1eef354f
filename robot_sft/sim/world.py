"""The simulated robot and its room: pure Python + numpy, no rclpy.

`robot_sft.sim.node` is the thin ROS layer on top; everything here is unit-tested with plain pytest.

- `integrate_unicycle`: exact pose update of a differential-drive base (REP-103:
  +x forward, +yaw left) under constant (v, w).
- `SimulatedBase`: holds the last /cmd_vel and integrates it up to any time, with
  the command timeout real base controllers have (no new command -> stop).
  Integrating up to the time each command arrives, not only on timer ticks, keeps
  the motion exact whatever the timer jitter on a busy machine.
- `Room`: a rectangle [x_min, x_max] x [y_min, y_max] with round obstacles; the base
  cannot drive into them, and `scan_ranges` ray-casts a 360-beam lidar.
- `Battery`: a charge that drains slowly when idle and faster when moving.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from robot_sft.geometry import Pose2D, wrap_angle


def integrate_unicycle(pose: Pose2D, linear: float, angular: float, dt: float) -> Pose2D:
    """Exact pose after driving at constant (linear m/s, angular rad/s) for dt seconds.

    The arc's chord, written so it stays exact for any turn rate: the base moves
    linear*dt*sinc(h) along the mid heading (h = half the turn). The radius form,
    (linear/angular)*(sin(end) - sin(start)), loses digits as angular -> 0 (a 1e9 m radius
    times a difference of nearly equal sines)."""
    half = 0.5 * angular * dt
    mid = pose.yaw + half
    chord = linear * dt * (math.sin(half) / half if half else 1.0)
    return Pose2D(pose.x + chord * math.cos(mid), pose.y + chord * math.sin(mid),
                  wrap_angle(pose.yaw + angular * dt))


@dataclass(frozen=True)
class Obstacle:
    """A round obstacle (a post, a bin) the lidar sees and the base cannot enter."""

    x: float
    y: float
    radius: float


@dataclass(frozen=True)
class Room:
    """Walls along x = x_min, x = x_max, y = y_min, y = y_max (odom frame, metres)."""

    x_min: float = -2.0
    y_min: float = -3.0
    x_max: float = 14.0
    y_max: float = 5.0
    obstacles: tuple[Obstacle, ...] = ()

    def __post_init__(self):
        if not (self.x_max > self.x_min and self.y_max > self.y_min):
            raise ValueError(f"room needs x_min < x_max and y_min < y_max, got "
                             f"[{self.x_min}, {self.y_min}, {self.x_max}, {self.y_max}]")

    def is_free(self, x: float, y: float, clearance: float = 0.0) -> bool:
        """True if a disc of radius `clearance` at (x, y) touches no wall or obstacle."""
        if not (self.x_min + clearance <= x <= self.x_max - clearance
                and self.y_min + clearance <= y <= self.y_max - clearance):
            return False
        return all(math.hypot(x - o.x, y - o.y) >= o.radius + clearance for o in self.obstacles)


def obstacles_from_flat(values) -> tuple[Obstacle, ...]:
    """ROS parameters have no nested lists: [x1, y1, r1, x2, y2, r2, ...] -> obstacles."""
    values = [float(v) for v in values]
    if len(values) % 3:
        raise ValueError(f"obstacles need x, y, radius triples, got {len(values)} numbers")
    obstacles = tuple(Obstacle(*values[i:i + 3]) for i in range(0, len(values), 3))
    for o in obstacles:
        if o.radius <= 0:
            raise ValueError(f"obstacle radius must be positive, got {o}")
    return obstacles


def beam_angles(count: int) -> np.ndarray:
    """Beam angles in the robot frame: count beams evenly over a full turn from -pi."""
    return -math.pi + np.arange(count) * (2.0 * math.pi / count)


def scan_ranges(room: Room, pose: Pose2D, count: int = 360, range_max: float = 12.0) -> np.ndarray:
    """Distance along each beam to the nearest wall or obstacle; inf beyond range_max
    (REP-117: +inf means nothing within range)."""
    angles = pose.yaw + beam_angles(count)
    dx, dy = np.cos(angles), np.sin(angles)
    ranges = np.full(count, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Walls: where each beam leaves the rectangle (the robot is inside it).
        for wall, origin, direction in ((room.x_min, pose.x, dx), (room.x_max, pose.x, dx),
                                        (room.y_min, pose.y, dy), (room.y_max, pose.y, dy)):
            t = (wall - origin) / direction
            ranges = np.where((t > 0) & np.isfinite(t), np.minimum(ranges, t), ranges)
        # Obstacles: nearest positive root of |p + t d - c|^2 = r^2.
        for o in room.obstacles:
            fx, fy = pose.x - o.x, pose.y - o.y
            b = fx * dx + fy * dy
            disc = b * b - (fx * fx + fy * fy - o.radius ** 2)
            t = -b - np.sqrt(disc)
            ranges = np.where((disc >= 0) & (t > 0), np.minimum(ranges, t), ranges)
    ranges[ranges > range_max] = np.inf
    return ranges


@dataclass
class Battery:
    """State of charge in [0, 1] and a linear voltage curve (6S Li-ion by default)."""

    fraction: float = 0.8
    idle_drain_per_s: float = 1e-4      # ~2.8 h from full when standing still
    drain_per_m: float = 1e-3           # 0.1 % per metre driven
    drain_per_rad: float = 2e-4         # turning in place costs less
    voltage_empty: float = 19.8         # 6 x 3.3 V
    voltage_full: float = 25.2          # 6 x 4.2 V

    def drain(self, dt: float, linear: float, angular: float) -> None:
        used = dt * (self.idle_drain_per_s + abs(linear) * self.drain_per_m
                     + abs(angular) * self.drain_per_rad)
        self.fraction = max(0.0, self.fraction - used)

    @property
    def voltage(self) -> float:
        return self.voltage_empty + (self.voltage_full - self.voltage_empty) * self.fraction


@dataclass
class SimulatedBase:
    """A kinematic differential-drive base in a room, driven by velocity commands.

    Times are seconds on any monotonic clock; call `command` when a /cmd_vel
    arrives and `advance` to move the state forward to a given time.
    """

    pose: Pose2D = field(default_factory=Pose2D)
    room: Room = field(default_factory=Room)
    cmd_timeout: float = 0.5   # s without a command -> stop
    robot_radius: float = 0.2  # m, for collisions
    battery: Battery = field(default_factory=Battery)
    max_step: float = 0.02     # s, collision-check resolution
    time: float | None = None  # time the state is valid at
    command_time: float = -math.inf
    command_linear: float = 0.0
    command_angular: float = 0.0
    linear: float = 0.0        # velocity actually achieved in the last step
    angular: float = 0.0
    distance: float = 0.0      # odometer: metres driven (absolute)
    bumps: int = 0             # steps refused because they would hit something

    def __post_init__(self):
        if not self.cmd_timeout > 0:
            raise ValueError(f"cmd_timeout must be positive, got {self.cmd_timeout}")

    history: deque = field(default_factory=lambda: deque(maxlen=256), repr=False)

    def command(self, linear: float, angular: float, now: float) -> None:
        """A new velocity command, in effect from time `now` (the old one applies
        until then). If the state is already past `now` (a busy process handled the
        message late), rewind and replay: the base reacts when the command arrived."""
        replay_until = self.time
        if self.time is not None and now < self.time:
            self._rewind(max(now, self.command_time))
            now = max(now, self.time)
        self.advance(now)
        if not (math.isfinite(linear) and math.isfinite(angular)):
            linear, angular = 0.0, 0.0  # a NaN must never move the robot
        self.command_linear, self.command_angular = float(linear), float(angular)
        self.command_time = now
        if replay_until is not None:
            self.advance(replay_until)

    def _rewind(self, when: float) -> None:
        """Back to the latest recorded state at or before `when` (if any is recorded)."""
        while self.history and self.history[-1][0] > when:
            self.history.pop()
        if self.history:
            (self.time, self.pose, self.battery.fraction, self.distance, self.bumps,
             self.linear, self.angular) = self.history[-1]

    def active_command(self, now: float) -> tuple[float, float]:
        if now - self.command_time >= self.cmd_timeout:
            return 0.0, 0.0
        return self.command_linear, self.command_angular

    def advance(self, now: float) -> None:
        if self.time is None:
            self.time = now
        # The command holds until its timeout, then the base stops.
        deadline = self.command_time + self.cmd_timeout
        if self.time < deadline:
            self._drive(min(now, deadline), self.command_linear, self.command_angular)
        if now > self.time:
            self._drive(now, 0.0, 0.0)

    def _drive(self, until: float, linear: float, angular: float) -> None:
        while self.time is not None and until > self.time:
            dt = min(self.max_step, until - self.time)
            achieved = linear
            moved = integrate_unicycle(self.pose, linear, angular, dt)
            if linear and not self.room.is_free(moved.x, moved.y, self.robot_radius):
                # Blocked: keep the position, still allow turning on the spot.
                self.bumps += 1
                moved = replace(moved, x=self.pose.x, y=self.pose.y)
                achieved = 0.0
            self.distance += math.hypot(moved.x - self.pose.x, moved.y - self.pose.y)
            self.battery.drain(dt, achieved, angular)
            self.pose, self.linear, self.angular = moved, achieved, angular
            self.time += dt
            self.history.append((self.time, self.pose, self.battery.fraction, self.distance,
                                 self.bumps, self.linear, self.angular))

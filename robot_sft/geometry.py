"""Planar geometry shared by the controller, its motion executor and the simulator.

Pure math (no rclpy, numpy or torch), so every user can import it and it is tested
with plain pytest. This is the only place that defines these; the rest import them:

- `Pose2D`: a planar pose (x, y in metres, yaw in rad, counter-clockwise from +x,
  REP-103). One class for both users: the simulator's robot state leaves `stamp`
  unset (None); the executor's odometry poses carry `stamp`, the monotonic time
  (s) the pose was measured. A missing stamp used in arithmetic fails loudly
  (TypeError) instead of passing for time 0.
- `wrap_angle`: an angle brought into [-pi, pi] (the same rotation).
- `quaternion_from_yaw` / `yaw_from_quaternion`: a heading <-> the (x, y, z, w)
  orientation quaternion of a rotation about +z (what ROS messages carry).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Pose2D:
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0  # rad, counter-clockwise from +x
    stamp: float | None = None  # monotonic s when measured (odometry); None: not a measurement


def wrap_angle(angle: float) -> float:
    """The same angle in [-pi, pi] (atan2 of its sine and cosine: exact for small angles,
    and an angle already at +-pi stays where it is)."""
    return math.atan2(math.sin(angle), math.cos(angle))


def quaternion_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by yaw about +z."""
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


def yaw_from_quaternion(q) -> float:
    """Heading (rad) of an orientation quaternion (anything with x, y, z, w)."""
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))

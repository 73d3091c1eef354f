"""The simulator node's parameters: names, defaults, descriptions, validation.

Pure Python (no rclpy), in the same `Param` shape as the controller's
(`robot_sft.controller_config`), declared by the same helper.
"""
from __future__ import annotations

from robot_sft.parameters import Param

# What the simulated wheel odometry does: "live" reports the pose; "frozen" keeps
# publishing the pose it had (a blocked or lifted robot); "silent" stops publishing
# (a dead driver). Settable at run time, so tests fault a running robot.
ODOMETRY_MODES = ("live", "frozen", "silent")

PARAMETERS = (
    Param("rate_hz", 50.0, "Physics and /odom rate, Hz."),
    Param("cmd_vel_timeout", 0.5, "Stop when no /cmd_vel arrives for this long, s."),
    Param("scan_rate_hz", 10.0, "/scan rate, Hz."),
    Param("battery_rate_hz", 1.0, "/battery_state rate, Hz."),
    # The robot starts at the odom origin, like real odometry; the room holds the
    # controller's default places (dock at 0,0; charging station at 12.5,3.2).
    Param("room", [-2.0, -3.0, 14.0, 5.0], "Walls [x_min, y_min, x_max, y_max] in the odom "
          "frame, m."),
    Param("start_pose", [0.0, 0.0, 0.0], "Initial [x m, y m, yaw rad] in the odom frame."),
    Param("obstacles", [3.0, 1.2, 0.3], "Round obstacles as flat [x, y, radius, ...] triples, m."),
    Param("robot_radius", 0.2, "Collision radius, m: the base cannot drive closer to a wall."),
    Param("scan_beams", 360, "Lidar beams over a full turn, from -pi."),
    Param("scan_range_max", 12.0, "Lidar range, m; farther beams read +inf."),
    Param("battery_start", 0.78, "Initial state of charge, 0..1."),
    Param("odometry", "live", "Fault injection for tests: 'live', 'frozen' (keeps publishing "
          "the pose it had: a blocked robot) or 'silent' (stops publishing); settable at run "
          "time."),
    Param("odom_frame", "odom", "Frame of /odom poses.", True),
    Param("base_frame", "base_link", "Robot frame (odom child frame and scan frame).", True),
    Param("cmd_vel_topic", "cmd_vel", "Velocity command input.", True),
    Param("odom_topic", "odom", "Odometry output.", True),
    Param("scan_topic", "scan", "Laser scan output.", True),
    Param("battery_topic", "battery_state", "Battery output.", True),
)


def check_sim_values(p: dict) -> None:
    """ValueError saying which simulator parameter is wrong and why."""
    for name in ("rate_hz", "scan_rate_hz", "battery_rate_hz", "cmd_vel_timeout",
                 "scan_beams", "scan_range_max"):
        if not p[name] > 0:
            raise ValueError(f"parameter {name} must be positive, got {p[name]}")
    if not (0.0 <= p["battery_start"] <= 1.0 and p["robot_radius"] >= 0.0):
        raise ValueError("battery_start must be within [0, 1] and robot_radius not negative")
    if len(p["room"]) != 4 or len(p["start_pose"]) != 3:
        raise ValueError("room needs [x_min, y_min, x_max, y_max] and start_pose [x, y, yaw]")
    if p["odometry"] not in ODOMETRY_MODES:
        raise ValueError(f"parameter odometry must be one of {ODOMETRY_MODES}, "
                         f"got {p['odometry']!r}")

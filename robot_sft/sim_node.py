"""ROS 2 node `sim`: a kinematic differential-drive robot in a rectangular room.

Subscribes /cmd_vel (geometry_msgs/Twist) and, like a real base controller, stops
when no command arrives for `cmd_vel_timeout` seconds. Publishes /odom
(nav_msgs/Odometry, odom -> base_link), /scan (sensor_msgs/LaserScan, ray-cast in
the room) and /battery_state (sensor_msgs/BatteryState, draining). The physics is
in `robot_sft.sim_world`; this file only moves data between it and ROS.

    ros2 run robot_sft sim --ros-args -p start_pose:="[1.0, 2.0, 1.57]"
"""
from __future__ import annotations

import math
import signal
import threading
import time

import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import BatteryState, LaserScan

from robot_sft.executor import yaw_to_quaternion
from robot_sft.sim_world import (
    Battery, Pose2D, Room, SimulatedBase, beam_angles, obstacles_from_flat, scan_ranges,
)

# name: (default, description). The type is the default's type.
PARAMETERS = {
    "rate_hz": (50.0, "physics and /odom rate [Hz]"),
    "cmd_vel_timeout": (0.5, "stop when no /cmd_vel arrives for this long [s]"),
    "scan_rate_hz": (10.0, "/scan rate [Hz]"),
    "battery_rate_hz": (1.0, "/battery_state rate [Hz]"),
    # The robot starts at the odom origin, like real odometry; the room holds the
    # controller's default places (dock at 0,0; charging station at 12.5,3.2).
    "room": ([-2.0, -3.0, 14.0, 5.0], "walls [x_min, y_min, x_max, y_max] in the odom frame [m]"),
    "start_pose": ([0.0, 0.0, 0.0], "initial [x m, y m, yaw rad] in the odom frame"),
    "obstacles": ([3.0, 1.2, 0.3], "round obstacles as flat [x, y, radius, ...] triples [m]"),
    "robot_radius": (0.2, "collision radius [m]: the base cannot drive closer to a wall"),
    "scan_beams": (360, "lidar beams over a full turn, from -pi"),
    "scan_range_max": (12.0, "lidar range [m]; farther beams read +inf"),
    "battery_start": (0.78, "initial state of charge [0..1]"),
    "odom_frame": ("odom", "frame of /odom poses"),
    "base_frame": ("base_link", "robot frame (odom child frame and scan frame)"),
    "cmd_vel_topic": ("cmd_vel", "velocity command input"),
    "odom_topic": ("odom", "odometry output"),
    "scan_topic": ("scan", "laser scan output"),
    "battery_topic": ("battery_state", "battery output"),
}


MAX_DELAY_S = 0.25  # a message older than this is applied as if 0.25 s old


class SimNode(Node):

    def __init__(self, **kwargs):
        super().__init__("sim", **kwargs)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=description))
        p = {name: self._value(name) for name in PARAMETERS}
        for name in ("rate_hz", "scan_rate_hz", "battery_rate_hz", "cmd_vel_timeout",
                     "scan_beams", "scan_range_max"):
            if not p[name] > 0:
                raise ValueError(f"parameter {name} must be positive, got {p[name]}")
        if not (0.0 <= p["battery_start"] <= 1.0 and p["robot_radius"] >= 0.0):
            raise ValueError("battery_start must be within [0, 1] and robot_radius not negative")
        if len(p["room"]) != 4 or len(p["start_pose"]) != 3:
            raise ValueError("room needs [x_min, y_min, x_max, y_max] and start_pose [x, y, yaw]")
        room = Room(*p["room"], obstacles=obstacles_from_flat(p["obstacles"]))
        start = Pose2D(*p["start_pose"])
        if not room.is_free(start.x, start.y, p["robot_radius"]):
            raise ValueError(f"start_pose {p['start_pose']} is inside a wall or an obstacle")
        self.base = SimulatedBase(pose=start, room=room, cmd_timeout=p["cmd_vel_timeout"],
                                  robot_radius=p["robot_radius"],
                                  battery=Battery(fraction=p["battery_start"]))
        self.params = p
        self._reported_bumps = 0

        self.odom_pub = self.create_publisher(Odometry, p["odom_topic"], 10)
        self.scan_pub = self.create_publisher(LaserScan, p["scan_topic"], 10)
        self.battery_pub = self.create_publisher(BatteryState, p["battery_topic"], 10)
        self.create_subscription(Twist, p["cmd_vel_topic"], self.on_cmd_vel, 10)
        self.create_timer(1.0 / p["rate_hz"], self.on_physics_tick)
        self.create_timer(1.0 / p["scan_rate_hz"], self.publish_scan)
        self.create_timer(1.0 / p["battery_rate_hz"], self.publish_battery)
        self.get_logger().info(
            f"room x {room.x_min:g}..{room.x_max:g} m, y {room.y_min:g}..{room.y_max:g} m, "
            f"{len(room.obstacles)} obstacle(s), "
            f"start ({start.x:g}, {start.y:g}, {math.degrees(start.yaw):g} deg), "
            f"cmd_vel timeout {p['cmd_vel_timeout']:g} s")

    def _value(self, name: str):
        try:
            return self.get_parameter(name).value
        except ParameterUninitializedException:  # an empty list given: "obstacles:=[]"
            return []

    # The physics clock is monotonic: wall-clock jumps must not teleport the robot.
    @staticmethod
    def now() -> float:
        return time.monotonic()

    def on_cmd_vel(self, msg: Twist, info) -> None:
        # The base reacts when the message arrived, not when this (Python, maybe busy)
        # process got round to the callback: a C++ base driver has no such delay.
        now = self.now()
        received_ns = info.get("received_timestamp", 0) if isinstance(info, dict) else 0
        delay = (time.time_ns() - received_ns) * 1e-9 if received_ns > 0 else 0.0
        self.base.command(msg.linear.x, msg.angular.z, now - min(max(delay, 0.0), MAX_DELAY_S))

    def on_physics_tick(self) -> None:
        self.base.advance(self.now())
        if self.base.bumps > self._reported_bumps:
            self._reported_bumps = self.base.bumps
            self.get_logger().warning("bumped into a wall or obstacle: holding position",
                                      throttle_duration_sec=2.0)
        self.publish_odom()

    def publish_odom(self) -> None:
        pose, msg = self.base.pose, Odometry()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params["odom_frame"]
        msg.child_frame_id = self.params["base_frame"]
        msg.pose.pose.position.x, msg.pose.pose.position.y = pose.x, pose.y
        q = msg.pose.pose.orientation
        q.x, q.y, q.z, q.w = yaw_to_quaternion(pose.yaw)
        msg.twist.twist.linear.x = self.base.linear  # in base_link, as REP-105 asks
        msg.twist.twist.angular.z = self.base.angular
        self.odom_pub.publish(msg)

    def publish_scan(self) -> None:
        count = self.params["scan_beams"]
        angles = beam_angles(count)
        msg = LaserScan()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params["base_frame"]
        msg.angle_min = float(angles[0])
        msg.angle_increment = 2.0 * math.pi / count
        msg.angle_max = float(angles[-1])
        msg.scan_time = 1.0 / self.params["scan_rate_hz"]
        msg.range_min = 0.05
        msg.range_max = float(self.params["scan_range_max"])
        msg.ranges = scan_ranges(self.base.room, self.base.pose, count, msg.range_max).tolist()
        self.scan_pub.publish(msg)

    def publish_battery(self) -> None:
        battery, msg = self.base.battery, BatteryState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params["base_frame"]
        msg.percentage = float(battery.fraction)  # BatteryState uses 0..1
        msg.voltage = float(battery.voltage)
        for unmeasured in ("current", "charge", "capacity", "design_capacity", "temperature"):
            setattr(msg, unmeasured, math.nan)  # NaN = not measured, per the message docs
        msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
        msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
        msg.present = True
        self.battery_pub.publish(msg)


def main(args=None):
    # Own SIGINT/SIGTERM handling (as in the controller): rclpy's handler would shut
    # the context down under our feet; we stop spinning and shut down in order.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    node = None
    try:
        node = SimNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (ParameterException, ValueError) as exc:  # bad parameters: say which, exit non-zero
        rclpy.logging.get_logger("sim").error(f"invalid parameters: {exc}")
        raise SystemExit(2) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

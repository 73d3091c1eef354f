"""ROS 2 node `sim`: a kinematic differential-drive robot in a rectangular room.

Subscribes /cmd_vel (geometry_msgs/Twist) and, like a real base controller, stops
when no command arrives for `cmd_vel_timeout` seconds. Publishes /odom
(nav_msgs/Odometry, odom -> base_link), /scan (sensor_msgs/LaserScan, ray-cast in
the room) and /battery_state (sensor_msgs/BatteryState, draining). The physics is
in `robot_sft.sim.world`; this file only moves data between it and ROS.

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
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import BatteryState, LaserScan

from robot_sft.controller_config import PARAMETERS as CONTROLLER_PARAMETERS
from robot_sft.geometry import Pose2D, quaternion_from_yaw
from robot_sft.node_startup import ignore_late_signals, one_line, params_file_problem
from robot_sft.ros_parameters import declare_parameters
from robot_sft.sim.config import ODOMETRY_MODES, PARAMETERS, check_sim_values
from robot_sft.sim.world import (
    Battery, Room, SimulatedBase, beam_angles, obstacles_from_flat, scan_ranges,
)

RCLError = rclpy_implementation.RCLError
MAX_DELAY_S = 0.25  # a message older than this is applied as if 0.25 s old


class SimNode(Node):

    def __init__(self, **kwargs):
        super().__init__("sim", **kwargs)
        # The launch file gives the sim the controller's params file too: its names are
        # expected here; a name neither node knows is a typo and stops the start.
        p = declare_parameters(self, PARAMETERS,
                               also_accepted=[c.name for c in CONTROLLER_PARAMETERS])
        check_sim_values(p)
        room = Room(*p["room"], obstacles=obstacles_from_flat(p["obstacles"]))
        start = Pose2D(*p["start_pose"])
        if not room.is_free(start.x, start.y, p["robot_radius"]):
            raise ValueError(f"start_pose {p['start_pose']} is inside a wall or an obstacle")
        self.base = SimulatedBase(pose=start, room=room, cmd_timeout=p["cmd_vel_timeout"],
                                  robot_radius=p["robot_radius"],
                                  battery=Battery(fraction=p["battery_start"]))
        self.params = p
        self._reported_bumps = 0
        self._frozen_pose = self.base.pose  # the pose "frozen" odometry keeps reporting
        self.add_on_set_parameters_callback(self._on_set_parameters)

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

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Only the odometry fault mode changes at run time; the rest is read at start."""
        for param in params:
            if param.name != "odometry":
                return SetParametersResult(successful=False,
                                           reason=f"{param.name} is read at start-up only")
            if param.value not in ODOMETRY_MODES:
                return SetParametersResult(successful=False,
                                           reason=f"odometry must be one of {ODOMETRY_MODES}")
            self.params["odometry"] = param.value
            self._frozen_pose = self.base.pose
            self.get_logger().warning(f"odometry fault mode: {param.value}")
        return SetParametersResult(successful=True)

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
        mode = self.params["odometry"]
        if mode == "silent":
            return
        pose, msg = (self._frozen_pose, Odometry()) if mode == "frozen" else (self.base.pose, Odometry())
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params["odom_frame"]
        msg.child_frame_id = self.params["base_frame"]
        msg.pose.pose.position.x, msg.pose.pose.position.y = pose.x, pose.y
        q = msg.pose.pose.orientation
        q.x, q.y, q.z, q.w = quaternion_from_yaw(pose.yaw)
        if mode == "live":  # frozen odometry reports standing still
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


def main(args=None) -> int:
    # Own SIGINT/SIGTERM handling (as in the controller): rclpy's handler would shut
    # the context down under our feet; we stop spinning and shut down in order. The
    # handlers stay until the process ends: `ros2 launch` signals its children and the
    # terminal signals the whole group, so a second SIGINT arrives while shutting down
    # (restoring Python's handler there made it a KeyboardInterrupt traceback).
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logger = rclpy.logging.get_logger("sim")
    node, code = None, 0
    try:
        problem = params_file_problem(args)
        if problem is not None:
            logger.error(f"cannot start: {problem}")
            return 2
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        node = SimNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (ParameterException, ValueError) as exc:  # bad parameters: say which, exit non-zero
        logger.error(f"invalid parameters: {one_line(exc)}")
        code = 2
    except RCLError as exc:  # arguments rcl cannot use
        logger.error(f"cannot start: {one_line(exc)}")
        code = 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        ignore_late_signals()
    return code


if __name__ == "__main__":
    raise SystemExit(main())

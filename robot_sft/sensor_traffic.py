"""ROS 2 node `sensor_traffic`: the sensor load a real robot puts beside the controller.

A real base does not publish only what the controller needs: a lidar driver sends
/scan with hundreds of ranges at 10-30 Hz, and wheel odometry, an IMU or a second
odometry source run at 50 Hz or more. Such traffic made the controller's old
MultiThreadedExecutor spin a core (ros2/rclpy#1452), which the package's own
simulator alone did not show. The black-box load test and the cross-process latency
benchmark start this node as its own process to reproduce a robot's load:

- `scan_topic` (default `scan`, which the controller reads): LaserScan, `scan_ranges`
  ranges at `scan_rate_hz`;
- `odom_topic` (default `wheel_odom`, which nobody here reads): Odometry at `odom_rate_hz`.

    python -m robot_sft.sensor_traffic --ros-args -r __ns:=/robot1 -p scan_rate_hz:=30.0
"""
from __future__ import annotations

import math
import signal
import threading

import rclpy
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import LaserScan


class SensorTraffic(Node):
    def __init__(self, **kwargs):
        super().__init__("sensor_traffic", **kwargs)
        scan_rate = self.declare_parameter("scan_rate_hz", 20.0).value
        odom_rate = self.declare_parameter("odom_rate_hz", 50.0).value
        count = self.declare_parameter("scan_ranges", 720).value
        scan_topic = self.declare_parameter("scan_topic", "scan").value
        odom_topic = self.declare_parameter("odom_topic", "wheel_odom").value
        self.scan = LaserScan()
        self.scan.header.frame_id = "laser"
        self.scan.angle_min, self.scan.angle_max = -math.pi, math.pi
        self.scan.angle_increment = 2.0 * math.pi / count
        self.scan.range_min, self.scan.range_max = 0.05, 12.0
        # Far returns: the controller's obstacle report stays "nothing close".
        self.scan.ranges = [8.0 + 0.001 * i for i in range(count)]
        self.odom = Odometry()
        self.odom.header.frame_id, self.odom.child_frame_id = "odom", "base_link"
        self.odom.pose.pose.orientation.w = 1.0
        self.scan_pub = self.create_publisher(LaserScan, scan_topic, qos_profile_sensor_data)
        self.odom_pub = self.create_publisher(Odometry, odom_topic, qos_profile_sensor_data)
        self.create_timer(1.0 / scan_rate, self.publish_scan)
        self.create_timer(1.0 / odom_rate, self.publish_odom)
        self.get_logger().info(f"{count}-range /{scan_topic} at {scan_rate:g} Hz, "
                               f"/{odom_topic} at {odom_rate:g} Hz")

    def publish_scan(self) -> None:
        self.scan.header.stamp = self.get_clock().now().to_msg()
        self.scan_pub.publish(self.scan)

    def publish_odom(self) -> None:
        self.odom.header.stamp = self.get_clock().now().to_msg()
        self.odom.pose.pose.position.x += 1e-4  # a robot elsewhere, creeping
        self.odom_pub.publish(self.odom)


def main(args=None) -> None:
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = SensorTraffic()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

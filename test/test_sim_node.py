"""The `sim` node with real rclpy (Fast DDS) in-process: Twists in, odometry, scans
and battery out; then the controller closing moves on the simulator's odometry.

Each test runs in its own rclpy context, namespace and ROS domain (ros_helpers).
"""
import math
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from sensor_msgs.msg import BatteryState, LaserScan  # noqa: E402

from robot_sft.sim.node import SimNode  # noqa: E402
from robot_sft.sim.session import SimSession  # noqa: E402
from ros_helpers import unique_domain_id, unique_namespace  # noqa: E402

pytestmark = pytest.mark.ros

# A 10 x 8 m room with one post straight ahead of the start pose.
ROOM = [-2.0, -3.0, 8.0, 5.0]
POST = [3.0, 0.0, 0.5]


def session(sim_params=None, **kwargs) -> SimSession:
    # A 10 Hz battery: the session waits for the first one before it starts.
    sim_params = {"battery_rate_hz": 10.0, **(sim_params or {})}
    return SimSession(domain_id=unique_domain_id(), namespace=unique_namespace("sim"),
                      sim_params=sim_params, **kwargs)


@pytest.fixture
def sim():
    with session(with_controller=False, sim_params={"room": ROOM, "obstacles": POST}) as robot:
        yield robot


def latest(robot, msg_type, topic, timeout=3.0):
    """The first message on `topic` after this call (the subscription stays: destroying
    it while the executor spins races with the executor)."""
    got = []
    robot.probe.create_subscription(msg_type, topic, got.append, 10)
    assert robot.wait_for(lambda: got, timeout), f"no {topic} within {timeout} s"
    return got[0]


def drive(robot, linear, angular, seconds, rate_hz=20.0):
    """Publish a Twist at rate_hz for `seconds`, then one zero (like the controller)."""
    pub = robot.probe.create_publisher(Twist, "cmd_vel", 10)
    assert robot.wait_for(lambda: pub.get_subscription_count() >= 1, 5.0)
    msg = Twist()
    msg.linear.x, msg.angular.z = float(linear), float(angular)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        pub.publish(msg)
        time.sleep(1.0 / rate_hz)
    pub.publish(Twist())
    time.sleep(0.3)  # let the zero and the last odometry arrive
    robot.probe.destroy_publisher(pub)


@pytest.mark.parametrize("linear, angular, seconds, dx, dyaw", [
    (0.5, 0.0, 1.0, 0.5, 0.0),      # straight ahead
    (-0.4, 0.0, 1.0, -0.4, 0.0),    # backward
    (0.0, 0.8, 1.0, 0.0, 0.8),      # turn left in place
    (0.0, -0.8, 1.0, 0.0, -0.8),    # turn right in place
])
def test_twist_moves_the_odometry(sim, linear, angular, seconds, dx, dyaw):
    x0, y0, yaw0 = sim.probe.pose()
    drive(sim, linear, angular, seconds)
    x1, y1, yaw1 = sim.probe.pose()
    # Open loop at 20 Hz on a shared machine: a few message periods of timing slack.
    assert x1 - x0 == pytest.approx(dx, abs=0.06)
    assert y1 - y0 == pytest.approx(0.0, abs=1e-6)
    assert math.remainder(yaw1 - yaw0, 2 * math.pi) == pytest.approx(dyaw, abs=0.1)


def test_odometry_message_is_rep105(sim):
    pub = sim.probe.create_publisher(Twist, "cmd_vel", 10)
    assert sim.wait_for(lambda: pub.get_subscription_count() >= 1, 5.0)
    msg = Twist()
    msg.linear.x, msg.angular.z = 0.3, 0.2
    pub.publish(msg)
    time.sleep(0.1)
    pub.publish(msg)
    odom = latest(sim, Odometry, "odom")
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
    q = odom.pose.pose.orientation
    assert q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2 == pytest.approx(1.0)
    assert (odom.twist.twist.linear.x, odom.twist.twist.angular.z) == pytest.approx((0.3, 0.2))


def test_base_stops_when_cmd_vel_stops(sim):
    """One Twist and silence: the base drives for cmd_vel_timeout (0.5 s) and stops."""
    pub = sim.probe.create_publisher(Twist, "cmd_vel", 10)
    assert sim.wait_for(lambda: pub.get_subscription_count() >= 1, 5.0)
    x0 = sim.probe.pose()[0]
    msg = Twist()
    msg.linear.x = 0.5
    pub.publish(msg)
    time.sleep(1.2)
    x1 = sim.probe.pose()[0]
    time.sleep(0.5)
    assert x1 - x0 == pytest.approx(0.25, abs=0.02)
    assert sim.probe.pose()[0] == x1  # and stays stopped


def test_scan_ranges_to_walls_and_post(sim):
    scan = latest(sim, LaserScan, "scan")
    assert len(scan.ranges) == 360 and scan.header.frame_id == "base_link"
    assert scan.angle_min == pytest.approx(-math.pi)
    assert scan.angle_increment == pytest.approx(math.radians(1.0))
    ranges = scan.ranges
    # From (0, 0) facing +x: behind the wall at x=-2, right y=-3, ahead the post's
    # surface at 3 - 0.5, left the wall at y=5.
    assert [ranges[0], ranges[90], ranges[180], ranges[270]] == pytest.approx(
        [2.0, 3.0, 2.5, 5.0], abs=1e-4)
    assert all(scan.range_min <= r <= scan.range_max for r in ranges if math.isfinite(r))


def test_scan_follows_the_robot(sim):
    drive(sim, 0.0, 1.0, math.pi / 2)  # about 90 deg left
    yaw = sim.probe.pose()[2]
    time.sleep(0.25)  # a scan taken at the new heading
    scan = latest(sim, LaserScan, "scan")
    assert scan.ranges[180] == pytest.approx(5.0 / math.cos(yaw - math.pi / 2), abs=0.01)
    post = round(math.degrees(-yaw)) + 180  # the beam along world +x, where the post is
    assert scan.ranges[post] == pytest.approx(2.5, abs=0.02)


def test_battery_drains():
    with session(with_controller=False,
                 sim_params={"battery_rate_hz": 10.0, "battery_start": 0.5}) as robot:
        got = []
        robot.probe.create_subscription(BatteryState, "battery_state", got.append, 10)
        assert robot.wait_for(lambda: len(got) >= 6, 5.0)
    first, last = got[0], got[-1]
    assert 0.49 < last.percentage < first.percentage <= 0.5
    assert 19.8 < last.voltage < first.voltage < 25.2
    assert first.present and first.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_DISCHARGING


@pytest.mark.parametrize("params, message", [
    ({"start_pose": [3.0, 0.0, 0.0]}, "inside a wall or an obstacle"),
    ({"room": [0.0, 0.0, 5.0]}, "room needs"),
    ({"rate_hz": 0.0}, "rate_hz must be positive"),
    ({"obstacles": [1.0, 2.0]}, "triples"),
    ({"battery_start": 1.5}, "battery_start"),
])
def test_bad_parameters_are_refused(params, message):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=unique_domain_id())
    try:
        from rclpy.parameter import Parameter

        overrides = [Parameter(k, value=v) for k, v in {"obstacles": POST, **params}.items()]
        with pytest.raises(ValueError, match=message):
            SimNode(context=context, parameter_overrides=overrides)
    finally:
        rclpy.try_shutdown(context=context)


# ---------------------------------------------------------------- with the controller

@pytest.mark.parametrize("answer, distance, angle", [
    ("Move forward 1 m.", 1.0, 0.0),
    ("Turn right 90 deg.", 0.0, -math.pi / 2),
    ("Move backward 50 cm.", -0.5, 0.0),
])
def test_odometry_closed_moves_are_accurate(answer, distance, angle):
    """The controller closes moves on the simulator's /odom: within 2 % of the command."""
    with session(controller_params={"model_backend": "fixed", "fixed_response": answer,
                                    "use_odometry": True}) as robot:
        result = robot.send(answer, timeout=20.0)  # the command holds what the answer copies
    assert not result.timed_out and result.response.startswith(answer)
    (x0, y0, yaw0), (x1, y1, yaw1) = result.start_pose, result.final_pose
    travelled = (x1 - x0) * math.cos(yaw0) + (y1 - y0) * math.sin(yaw0)
    turned = math.remainder(yaw1 - yaw0, 2 * math.pi)
    assert travelled == pytest.approx(distance, abs=0.02 * abs(distance) + 1e-3)
    assert turned == pytest.approx(angle, abs=0.02 * abs(angle) + 1e-3)
    moving = [s for s in result.segments if s.linear_x or s.angular_z]
    assert len(moving) == 1

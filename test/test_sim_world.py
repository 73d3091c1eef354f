"""The simulator's physics without ROS: kinematics, command timeout, collisions, lidar, battery."""
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from robot_sft.geometry import Pose2D, wrap_angle
from robot_sft.sim.world import (
    Battery, Obstacle, Room, SimulatedBase, beam_angles, integrate_unicycle,
    obstacles_from_flat, scan_ranges,
)

HALF_PI = math.pi / 2


def close_pose(actual: Pose2D, expected: Pose2D, tol=1e-9) -> bool:
    return (math.isclose(actual.x, expected.x, abs_tol=tol)
            and math.isclose(actual.y, expected.y, abs_tol=tol)
            and abs(wrap_angle(actual.yaw - expected.yaw)) < tol)


@pytest.mark.parametrize("start, v, w, dt, expected", [
    # straight: the tutorial's 0.5 m/s for 4 s is 2 m
    (Pose2D(), 0.5, 0.0, 4.0, Pose2D(2.0, 0.0, 0.0)),
    (Pose2D(), -0.5, 0.0, 2.0, Pose2D(-1.0, 0.0, 0.0)),                 # backward
    (Pose2D(1.0, 1.0, HALF_PI), 1.0, 0.0, 2.0, Pose2D(1.0, 3.0, HALF_PI)),  # facing +y
    # turn in place: +w is left (counter-clockwise)
    (Pose2D(), 0.0, 0.5, math.pi, Pose2D(0.0, 0.0, HALF_PI)),
    (Pose2D(), 0.0, -0.5, math.pi, Pose2D(0.0, 0.0, -HALF_PI)),         # 90 deg clockwise
    # arcs: quarter circle of radius 1 to the left, and to the right
    (Pose2D(), 1.0, 1.0, HALF_PI, Pose2D(1.0, 1.0, HALF_PI)),
    (Pose2D(), 1.0, -1.0, HALF_PI, Pose2D(1.0, -1.0, -HALF_PI)),
    (Pose2D(3.0, 2.0, 0.0), 0.5, 0.5, 2 * math.pi / 0.5, Pose2D(3.0, 2.0, 0.0)),  # full circle
    (Pose2D(), 0.0, 0.0, 5.0, Pose2D()),                                 # standing still
])
def test_integrate_unicycle_table(start, v, w, dt, expected):
    assert close_pose(integrate_unicycle(start, v, w, dt), expected)


@settings(max_examples=60, deadline=None)
@given(v=st.floats(-1, 1), w=st.floats(-1.5, 1.5), dt=st.floats(0.01, 5),
       yaw=st.floats(-math.pi, math.pi), steps=st.integers(2, 50))
@example(v=0.9, w=1e-9, dt=4.0, yaw=-2.0, steps=4)  # a 1e9 m radius: the old arc form lost 2e-7 m
def test_integration_is_exact_whatever_the_step(v, w, dt, yaw, steps):
    """Many small steps land where one big step does: the sim's accuracy cannot
    depend on timer jitter."""
    start = Pose2D(1.0, -2.0, yaw)
    pose = start
    for _ in range(steps):
        pose = integrate_unicycle(pose, v, w, dt / steps)
    assert close_pose(pose, integrate_unicycle(start, v, w, dt), tol=1e-7)
    # The chord can only be shorter than the arc actually driven.
    assert math.hypot(pose.x - start.x, pose.y - start.y) <= abs(v) * dt + 1e-9


def free_base(**kwargs) -> SimulatedBase:
    """A base in the middle of a big empty room, so walls never interfere."""
    return SimulatedBase(pose=Pose2D(50.0, 50.0, 0.0), room=Room(0.0, 0.0, 100.0, 100.0), **kwargs)


@pytest.mark.parametrize("commands, until, expected_dx", [
    ([(0.0, 0.5)], 10.0, 0.25),                              # one command: runs for the timeout only
    ([(t / 10, 0.5) for t in range(20)], 10.0, 0.5 * 2.4),    # 10 Hz for 2 s: until 1.9 + 0.5
    ([(0.0, 0.5), (1.0, 0.5)], 10.0, 0.5),                    # a 1 s gap: two 0.5 s bursts
    ([(0.0, 0.5), (0.2, 0.0)], 10.0, 0.1),                    # an explicit zero stops at once
    ([(0.0, 0.5)], 0.3, 0.15),                                # still running at the end
    ([(0.0, float("nan"))], 10.0, 0.0),                       # NaN never moves the robot
])
def test_cmd_vel_timeout(commands, until, expected_dx):
    base = free_base(cmd_timeout=0.5)
    base.advance(0.0)
    for t, v in commands:
        base.command(v, 0.0, t)
    base.advance(until)
    assert base.pose.x - 50.0 == pytest.approx(expected_dx, abs=1e-9)
    assert base.distance == pytest.approx(expected_dx, abs=1e-9)


@pytest.mark.parametrize("lateness", [0.0, 0.013, 0.05, 0.2])
def test_a_late_command_takes_effect_when_it_arrived(lateness):
    """A zero handled `lateness` s late (busy process) stops the base where an
    on-time one would have: the state rewinds and replays."""
    bases = []
    for late in (0.0, lateness):
        base = free_base(cmd_timeout=0.5)
        for i in range(10):
            base.command(0.5, 0.3, i * 0.1)
        base.advance(1.0 + late)         # the physics timer ran on meanwhile
        base.command(0.0, 0.0, 1.0)      # the zero that arrived at t = 1.0
        base.advance(2.0)
        bases.append(base)
    on_time, late = bases
    assert close_pose(late.pose, on_time.pose, tol=1e-9)
    assert late.distance == pytest.approx(on_time.distance)
    assert late.battery.fraction == pytest.approx(on_time.battery.fraction)


def test_velocity_reports_zero_after_timeout():
    base = free_base(cmd_timeout=0.5)
    base.command(0.4, 0.3, 0.0)
    base.advance(0.2)
    assert (base.linear, base.angular) == (0.4, 0.3)
    base.advance(1.0)
    assert (base.linear, base.angular) == (0.0, 0.0)


def test_turn_command_rotates_in_place():
    base = free_base(cmd_timeout=0.5)
    for i in range(int(math.pi / 0.05)):  # 0.5 rad/s for pi s at 20 Hz = 90 deg left
        base.command(0.0, 0.5, i * 0.05)
    base.command(0.0, 0.0, math.pi)
    base.advance(5.0)
    assert close_pose(base.pose, Pose2D(50.0, 50.0, HALF_PI), tol=1e-6)


def test_walls_stop_the_base_but_it_can_still_turn():
    base = SimulatedBase(pose=Pose2D(9.5, 4.0, 0.0), room=Room(0.0, 0.0, 10.0, 8.0), robot_radius=0.2)
    base.command(1.0, 0.0, 0.0)
    base.advance(0.45)  # would reach x = 9.95 without the wall
    assert 10.0 - 0.2 - 0.02 <= base.pose.x <= 10.0 - 0.2
    assert base.bumps > 0 and base.linear == 0.0
    base.command(0.0, 1.0, 0.5)
    base.advance(0.6)
    assert base.pose.yaw == pytest.approx(0.1)


def test_obstacles_block_motion():
    room = Room(0.0, 0.0, 10.0, 8.0, obstacles=(Obstacle(5.0, 4.0, 0.5),))
    base = SimulatedBase(pose=Pose2D(3.0, 4.0, 0.0), room=room, robot_radius=0.2)
    for i in range(60):
        base.command(0.5, 0.0, i * 0.1)
    base.advance(6.0)
    assert 5.0 - 0.7 - 0.01 <= base.pose.x <= 5.0 - 0.7


@pytest.mark.parametrize("x, y, yaw, expected", [
    # (back, right, front, left) distances: beams at -pi, -pi/2, 0, +pi/2
    (2.0, 4.0, 0.0, (2.0, 4.0, 8.0, 4.0)),
    (2.0, 4.0, HALF_PI, (4.0, 8.0, 4.0, 2.0)),   # facing +y: right is the far wall
    (1.0, 1.0, math.pi, (9.0, 7.0, 1.0, 1.0)),
    (5.0, 3.0, -HALF_PI, (5.0, 5.0, 3.0, 5.0)),
])
def test_scan_ranges_to_walls(x, y, yaw, expected):
    ranges = scan_ranges(Room(0.0, 0.0, 10.0, 8.0), Pose2D(x, y, yaw), 360, range_max=20.0)
    assert ranges[[0, 90, 180, 270]] == pytest.approx(expected)


def test_scan_diagonal_beam_hits_the_corner():
    ranges = scan_ranges(Room(0.0, 0.0, 4.0, 4.0), Pose2D(2.0, 2.0, 0.0), 8, range_max=20.0)
    assert beam_angles(8)[5] == pytest.approx(math.pi / 4)
    assert ranges[5] == pytest.approx(2.0 * math.sqrt(2.0))


def test_scan_sees_obstacles_and_range_limit():
    room = Room(0.0, 0.0, 10.0, 8.0, obstacles=(Obstacle(5.0, 4.0, 0.5),))
    ranges = scan_ranges(room, Pose2D(2.0, 4.0, 0.0), 360, range_max=6.0)
    assert ranges[[0, 180, 270]] == pytest.approx([2.0, 2.5, 4.0])  # wall, obstacle, wall
    far = scan_ranges(room, Pose2D(1.0, 1.0, 0.0), 360, range_max=6.0)
    assert np.isinf(far[180])  # the front wall is 9 m away: beyond range (REP-117)
    assert far[0] == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(x=st.floats(0.3, 9.7), y=st.floats(0.3, 7.7), yaw=st.floats(-math.pi, math.pi))
def test_scan_ranges_stay_inside_the_room(x, y, yaw):
    ranges = scan_ranges(Room(0.0, 0.0, 10.0, 8.0), Pose2D(x, y, yaw), 360, range_max=20.0)
    assert np.all(np.isfinite(ranges)) and np.all(ranges > 0)
    assert ranges.max() <= math.hypot(10.0, 8.0) + 1e-9
    # The nearest wall is what the shortest beam sees (to within the beam spacing).
    nearest = min(x, 10.0 - x, y, 8.0 - y)
    assert nearest - 1e-9 <= ranges.min() <= nearest / math.cos(math.radians(0.5)) + 1e-9


def test_battery_drains_faster_when_moving():
    idle, moving = Battery(fraction=0.8), Battery(fraction=0.8)
    idle.drain(10.0, 0.0, 0.0)
    moving.drain(10.0, 0.5, 0.0)
    assert 0.8 > idle.fraction > moving.fraction
    assert Battery(fraction=1.0).voltage == pytest.approx(25.2)
    assert Battery(fraction=0.0).voltage == pytest.approx(19.8)
    empty = Battery(fraction=1e-6)
    empty.drain(1e6, 1.0, 1.0)
    assert empty.fraction == 0.0


def test_base_drains_its_battery():
    base = free_base()
    start = base.battery.fraction
    base.command(0.5, 0.0, 0.0)
    base.advance(0.4)
    assert base.battery.fraction == pytest.approx(start - 0.4 * (1e-4 + 0.5 * 1e-3))


@pytest.mark.parametrize("flat, error", [
    ([], None), ([1, 2, 0.5], None), ([1, 2], "triples"), ([1, 2, 0], "positive"),
])
def test_obstacles_from_flat(flat, error):
    if error is None:
        assert len(obstacles_from_flat(flat)) == len(flat) // 3
    else:
        with pytest.raises(ValueError, match=error):
            obstacles_from_flat(flat)

"""The simulator and the controller in one process: for the demo and for tests.

`SimSession` starts `SimNode`, optionally `ControllerNode`, and a `Probe` node in a
private rclpy context (own domain id, own namespace, so nothing leaks onto a real
robot's /cmd_vel), each node spun by its own executor in a background thread (the
controller's from `controller_node.make_executor`, as in its main()).
`SimSession.send(command)` publishes a /command and waits until the answer is in
and the motion is over, then returns what happened, seen from outside the
controller: the /response text, the /cmd_vel segments actually published, and
the odometry.

    with SimSession(controller_params={"model_backend": "fixed"}) as robot:
        result = robot.send("Move forward 1 m.")
        print(result.response, result.segments, result.final_pose)
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from robot_sft.geometry import wrap_angle, yaw_from_quaternion
from robot_sft.safety import MOTION_ANNOUNCEMENT
from robot_sft.sim.node import SimNode

DEMO_NAMESPACE = "robot_sft_demo"
SETTLE_S = 0.3  # no /cmd_vel for this long after the last zero: the motion is over


@dataclass(frozen=True)
class OdomSample:
    t: float  # monotonic receive time
    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class Segment:
    """A run of identical /cmd_vel messages, with what odometry saw meanwhile."""

    linear_x: float
    angular_z: float
    duration: float   # s from the first message to the one that changed it
    distance: float   # m driven according to odometry (unsigned)
    turned: float     # rad turned according to odometry (signed, + left)

    def describe(self) -> str:
        return (f"linear.x={self.linear_x:+.3g} angular.z={self.angular_z:+.3g} for "
                f"{self.duration:.2f} s -> {self.distance:.3f} m, {math.degrees(self.turned):+.1f} deg")


@dataclass
class CommandResult:
    command: str
    response: str | None            # None: no answer before the time-out
    segments: list[Segment]
    start_pose: tuple[float, float, float]
    final_pose: tuple[float, float, float]
    elapsed: float                  # s from sending to motion over
    timed_out: bool
    path: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def moved(self) -> bool:
        return any(s.linear_x or s.angular_z for s in self.segments)

    def to_dict(self) -> dict:
        return asdict(self)


def wait_for(predicate, timeout: float, poll: float = 0.02) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return bool(predicate())


def odometry_between(odom: list[OdomSample], start: float, end: float) -> tuple[float, float]:
    """(metres driven, radians turned) according to the odometry samples in [start, end]."""
    inside = [s for s in odom if start <= s.t <= end]
    before = [s for s in odom if s.t < start][-1:]  # the pose when the interval began
    samples = before + inside
    distance = sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in zip(samples, samples[1:]))
    turned = sum(wrap_angle(b.yaw - a.yaw) for a, b in zip(samples, samples[1:]))
    return distance, turned


def executed_segments(twists: list[tuple[float, float, float]], odom: list[OdomSample],
                      end: float) -> list[Segment]:
    """Group (t, linear_x, angular_z) messages into runs of equal velocity; a run lasts
    until the next different message (or `end`). Odometry is counted from a run's
    first message to the next run's, and to `end` for the last moving run (the
    base coasts a little after the zero). Zero runs are dropped unless there is
    nothing else (a stop)."""
    runs: list[tuple[float, float, float]] = []
    for t, linear, angular in twists:
        if not runs or (runs[-1][1], runs[-1][2]) != (linear, angular):
            runs.append((t, linear, angular))
    last_moving = max((i for i, r in enumerate(runs) if r[1] or r[2]), default=None)
    segments = []
    for i, (t, linear, angular) in enumerate(runs):
        until = runs[i + 1][0] if i + 1 < len(runs) else end
        distance, turned = odometry_between(odom, t, end if i == last_moving else until)
        segments.append(Segment(linear, angular, until - t, distance, turned))
    moving = [s for s in segments if s.linear_x or s.angular_z]
    return moving or segments[:1]


class Probe(Node):
    """The outside view of the robot: sends /command, records /response, /cmd_vel, /odom."""

    def __init__(self, **kwargs):
        super().__init__("demo_probe", **kwargs)
        self._lock = threading.Lock()
        self.responses: list[tuple[float, str]] = []
        self.twists: list[tuple[float, float, float]] = []
        self.odom: list[OdomSample] = []
        self.battery: BatteryState | None = None
        self.command_pub = self.create_publisher(String, "command", 10)
        self.create_subscription(String, "response", self._on_response, 10)
        self.create_subscription(Twist, "cmd_vel", self._on_twist, 10)
        self.create_subscription(Odometry, "odom", self._on_odom, 10)
        self.create_subscription(BatteryState, "battery_state", self._on_battery, 10)

    def _on_response(self, msg: String) -> None:
        with self._lock:
            self.responses.append((time.monotonic(), msg.data))

    def _on_twist(self, msg: Twist, info) -> None:  # info: rclpy MessageInfo
        # When the Twist crossed DDS (its receive time), not when this process got round
        # to the callback: the probe measures the controller, not its own scheduling.
        now, wall_ns = time.monotonic(), time.time_ns()
        received_ns = info.get("received_timestamp", 0) if isinstance(info, dict) else 0
        delay = (wall_ns - received_ns) * 1e-9 if received_ns > 0 else 0.0
        with self._lock:
            self.twists.append((now - min(max(delay, 0.0), 1.0), msg.linear.x, msg.angular.z))

    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        yaw = yaw_from_quaternion(q)
        with self._lock:
            self.odom.append(OdomSample(time.monotonic(), p.x, p.y, yaw))

    def _on_battery(self, msg: BatteryState) -> None:
        self.battery = msg

    def snapshot(self):
        with self._lock:
            return list(self.responses), list(self.twists), list(self.odom)

    def twist_after(self, since: float, moving: bool = True, timeout: float = 5.0) -> float | None:
        """Receive time of the first moving (or zero) Twist at or after `since`
        (monotonic s), waiting up to `timeout`; None if none came."""
        found = []

        def seen():
            with self._lock:
                found[:] = [t for t, lx, az in self.twists
                            if t >= since and bool(lx or az) == moving][:1]
            return bool(found)
        return found[0] if wait_for(seen, timeout, poll=0.001) else None

    def pose(self) -> tuple[float, float, float] | None:
        with self._lock:
            s = self.odom[-1] if self.odom else None
        return None if s is None else (s.x, s.y, s.yaw)

    def send(self, command: str, timeout: float = 60.0) -> CommandResult:
        """Publish one command; return once it is answered and any motion is over."""
        responses0, twists0, odom0 = (len(x) for x in self.snapshot())
        start_pose = self.pose()
        sent = time.monotonic()
        self.command_pub.publish(String(data=command))

        def settled():
            responses, twists, _ = self.snapshot()
            now = time.monotonic()
            if len(responses) <= responses0 or now - responses[-1][0] < SETTLE_S:
                return False
            new = twists[twists0:]
            if not new:  # no motion, unless the answer announced some that has not begun
                return not any(MOTION_ANNOUNCEMENT in text for _, text in responses[responses0:])
            return new[-1][1:] == (0.0, 0.0) and now - new[-1][0] >= SETTLE_S

        timed_out = not wait_for(settled, timeout)
        responses, twists, odom = self.snapshot()
        end = time.monotonic()
        answers = [text for _, text in responses[responses0:]]
        new_odom = odom[odom0:]
        return CommandResult(
            command=command, response="\n".join(answers) if answers else None,
            segments=executed_segments(twists[twists0:], odom, end),
            start_pose=start_pose, final_pose=self.pose(), elapsed=end - sent,
            timed_out=timed_out, path=[(s.x, s.y) for s in new_odom])


@contextmanager
def probe_on_domain(domain_id: int, namespace: str, make_node=Probe):
    """A probe node (`make_node(context=..., namespace=...)`) in a private rclpy context
    on `domain_id`, spun by a thread of its own: the outside view of nodes running in
    other processes (node_processes)."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
    node = make_node(context=context, namespace=namespace)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stopping = threading.Event()

    def spin():
        while not stopping.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True, name=f"spin-{node.get_name()}")
    spinner.start()
    try:
        yield node
    finally:
        stopping.set()
        spinner.join(timeout=2.0)
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def _overrides(params: dict | None) -> list[Parameter]:
    return [Parameter(name, value=value) for name, value in (params or {}).items()]


class SimSession:
    """Simulator (+ controller) + probe in a private context; use as a context manager."""

    def __init__(self, controller_params: dict | None = None, sim_params: dict | None = None,
                 model=None, with_controller: bool = True, domain_id: int | None = None,
                 namespace: str = DEMO_NAMESPACE, ready_timeout: float = 20.0):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.nodes: list[Node] = []
        self.controller = None
        self.executors: list[tuple] = []  # (executor, spinning thread)
        self._stopping = threading.Event()
        try:
            common = {"context": self.context, "namespace": namespace}
            self.sim = SimNode(parameter_overrides=_overrides(sim_params), **common)
            self.nodes.append(self.sim)
            if with_controller:
                from robot_sft.controller_node import ControllerNode, make_executor

                self.controller = ControllerNode(
                    model=model, parameter_overrides=_overrides(controller_params), **common)
                self.nodes.append(self.controller)
            self.probe = Probe(**common)
            self.nodes.append(self.probe)
            # One executor per node, each spun by its own thread, as if each node were
            # its own process: with one shared executor, 200 callbacks/s queue behind
            # each other and the odometry-closed moves overshoot on a busy machine
            # (measured: 1 m moves 0.9 % -> 0.5 % median, worst 3.1 % -> 1.6 % at load 5
            # on 2 cores). The controller gets its own kind, as in its main().
            for node in self.nodes:
                executor = (make_executor(context=self.context) if node is self.controller
                            else SingleThreadedExecutor(context=self.context))
                executor.add_node(node)
                spinner = threading.Thread(target=self._spin, args=(executor,), daemon=True,
                                           name=f"spin-{node.get_name()}")
                self.executors.append((executor, spinner))
                spinner.start()
            self.wait_ready(ready_timeout)
        except BaseException:
            self.close()
            raise

    def _spin(self, executor) -> None:
        while not self._stopping.is_set() and self.context.ok():
            executor.spin_once(timeout_sec=0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_for(self, predicate, timeout: float, poll: float = 0.02) -> bool:
        return wait_for(predicate, timeout, poll)

    def wait_ready(self, timeout: float) -> None:
        """Every publisher matched and the first odometry and battery messages in."""
        def matched():
            sim, probe = self.sim, self.probe
            ok = (sim.odom_pub.get_subscription_count() >= 1 + bool(self.controller)
                  and probe.pose() is not None and probe.battery is not None)
            if self.controller is not None:
                ok = ok and (probe.command_pub.get_subscription_count() >= 1
                             and self.controller.cmd_vel_pub.get_subscription_count() >= 2
                             and self.controller.response_pub.get_subscription_count() >= 1
                             and sim.scan_pub.get_subscription_count() >= 1
                             and sim.battery_pub.get_subscription_count() >= 2)
            return ok
        if not wait_for(matched, timeout):
            raise TimeoutError(f"simulated robot not ready after {timeout:.0f} s "
                               f"(discovery or first /odom, /battery_state missing)")
        time.sleep(0.2)  # a sensor message or two more, so the controller has them too

    def send(self, command: str, timeout: float = 60.0) -> CommandResult:
        """Publish one command; return once it is answered and any motion is over."""
        return self.probe.send(command, timeout)

    def close(self) -> None:
        """Stop spinning, then destroy the nodes (the controller publishes a last
        zero Twist on the way out), then the context."""
        self._stopping.set()
        for _, spinner in self.executors:
            spinner.join(timeout=2.0)
        if self.executors:
            # Let callbacks already handed to a thread pool finish: Executor.shutdown
            # destroys the guard condition they trigger on the way out.
            time.sleep(0.1)
        for executor, _ in self.executors:
            executor.shutdown(timeout_sec=2.0)
        self.executors = []
        for node in self.nodes:
            node.destroy_node()
        self.nodes = []
        rclpy.try_shutdown(context=self.context)


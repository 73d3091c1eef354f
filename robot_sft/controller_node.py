"""ROS 2 node `controller`: /command text -> model -> /response text and /cmd_vel motion.

Threads, and why:
- executor threads (MultiThreadedExecutor): callbacks only. The /command callback
  never waits for the model, so a stop is served while the model is busy.
- worker thread: runs the model, one command at a time. A newer command cancels
  the running generation and replaces the pending one (latest wins, nothing queues).
- motion thread: re-publishes the current Twist at publish_rate_hz and ends each
  segment exactly on time (or on odometry), driven by `robot_sft.executor`.
One lock guards the plan; nothing is published to DDS while it is held (a publish
can block in the middleware, and the motion thread must never wait behind it).
Each Twist takes a sequence number under that lock and is published under a
second, publish-only lock that drops any Twist older than one already sent: once a
stop has published zero no older non-zero Twist can follow it.

Run: ros2 run robot_sft controller --ros-args -p adapter:=outputs/embedded
     ros2 run robot_sft controller --ros-args -p model_backend:=fixed   # dry run, echo
"""
from __future__ import annotations

import gc
import signal
import threading
import time
from dataclasses import dataclass

import rclpy
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import BatteryState, LaserScan
from std_msgs.msg import String

from robot_sft.adapter import AdapterError
from robot_sft.commands import is_stop_command, sanitise_command
from robot_sft.controller_config import PARAMETERS, make_config
from robot_sft.executor import MotionExecutor, message_age, yaw_from_quaternion, yaw_to_quaternion
from robot_sft.inference.base import AnswerTruncated, GenerationCancelled
from robot_sft.inference.loader import ModelSpec, load_command_model
from robot_sft.models import ModelLoadError
from robot_sft.reply import battery_text, build_reply, obstacles_text
from robot_sft.response_format import Stop, render_response
from robot_sft.safety import TwistSegment, clamp_twist, describe_plan
from robot_sft.stream_reply import StreamingReply

STOP_REPLY = f"{render_response([Stop()])}\n{describe_plan([TwistSegment(0.0, 0.0, 0.0)])}"
# Not "stop" (served before the model) and harmless: the answer is never executed.
WARM_UP_COMMAND = "Turn left 1 degree."


@dataclass(frozen=True)
class Job:
    id: int
    command: str


class ControllerNode(Node):
    def __init__(self, model=None, **kwargs):
        super().__init__("controller", **kwargs)
        for p in PARAMETERS:
            self.declare_parameter(p.name, p.default, ParameterDescriptor(
                description=p.description, read_only=p.read_only))
        self.config = make_config(self._parameter_values())  # ValueError: bad parameters
        cfg = self.config

        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._motion_wake = threading.Condition(self._lock)
        self._motion_woken = False    # a wake-up the motion thread has not seen yet
        self._publish_lock = threading.Lock()  # /cmd_vel only; never taken with _lock held
        self._twist_seq = 0           # last sequence number handed out (under _lock)
        self._sent_seq = 0            # newest one published (under _publish_lock)
        self._closing = False
        self._job_id = 0              # id of the newest command; older results are stale
        self._pending: Job | None = None
        self._busy: Job | None = None
        self._busy_started = 0        # id of the job whose streamed motion has started
        self._cancel = threading.Event()
        self._battery = None
        self._scan = None
        self._motion = MotionExecutor(1.0 / cfg.publish_rate_hz, cfg.odom_timeout,
                                      cfg.cmd_vel_timeout, cfg.use_odometry)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.cmd_vel_pub = self.create_publisher(Twist, cfg.cmd_vel_topic, 10)
        self.response_pub = self.create_publisher(String, cfg.response_topic, 10)
        self.goal_pub = self.create_publisher(PoseStamped, cfg.goal_topic, 10)
        # Commands in their own mutually exclusive group: handled in arrival order (a
        # reentrant group could let "stop" overtake the command before it), and never
        # behind a sensor callback. The callback only takes a lock: the model runs in
        # the worker thread, so a stop is served at once even while the model is busy.
        commands = MutuallyExclusiveCallbackGroup()
        sensors = MutuallyExclusiveCallbackGroup()
        self.create_subscription(String, cfg.command_topic, self._on_command, 10,
                                 callback_group=commands)
        self.create_subscription(Odometry, cfg.odom_topic, self._on_odom, qos_profile_sensor_data,
                                 callback_group=sensors)
        self.create_subscription(BatteryState, cfg.battery_topic, self._on_battery,
                                 qos_profile_sensor_data, callback_group=sensors)
        self.create_subscription(LaserScan, cfg.scan_topic, self._on_scan, qos_profile_sensor_data,
                                 callback_group=sensors)

        if model is None and cfg.num_threads > 0:
            import torch  # the node is this process's entry point: set before loading/merging

            torch.set_num_threads(cfg.num_threads)
        self.model = model if model is not None else load_command_model(
            ModelSpec.from_config(cfg), log=self.get_logger().info,
            warn=self.get_logger().warning)
        self._threads = [threading.Thread(target=self._guarded_loop, args=(loop,), daemon=True,
                                          name=f"controller-{loop.__name__.strip('_')}")
                         for loop in (self._worker_loop, self._motion_loop)]
        for thread in self._threads:
            thread.start()
        self.get_logger().info(
            f"ready: {self.model.description}, limits {cfg.max_linear_speed} m/s, "
            f"{cfg.max_angular_speed} rad/s; places: {', '.join(cfg.places) or 'none'}")

    # ------------------------------------------------------------------ parameters
    def _parameter_values(self) -> dict:
        return {p.name: self.get_parameter(p.name).value for p in PARAMETERS}

    def _on_set_parameters(self, params) -> SetParametersResult:
        values = {**self._parameter_values(), **{p.name: p.value for p in params}}
        try:
            config = make_config(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        # A running plan keeps its durations; the new limits clamp every Twist from now on.
        with self._lock:
            self.config = config
            self._motion.publish_period = 1.0 / config.publish_rate_hz
            self._motion.odom_timeout = config.odom_timeout
            self._motion.cmd_vel_timeout = config.cmd_vel_timeout
            self._motion.use_odometry = config.use_odometry
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ publishing
    def _twist(self, linear_x: float, angular_z: float) -> tuple[int, Twist]:
        """A clamped Twist and its place in the publish order. Call with self._lock held,
        publish with _send_twist after releasing it."""
        msg = Twist()
        msg.linear.x, msg.angular.z = clamp_twist(linear_x, angular_z, self.config.limits)
        self._twist_seq += 1
        return self._twist_seq, msg

    def _send_twist(self, twist: tuple[int, Twist] | None) -> None:
        """Publish, unless a newer Twist (a stop's zero, say) went out meanwhile."""
        if twist is None:
            return
        seq, msg = twist
        with self._publish_lock:
            if seq > self._sent_seq:
                self._sent_seq = seq
                self.cmd_vel_pub.publish(msg)

    def _wake_motion(self) -> None:
        """Call with self._lock held: the plan changed, the motion thread re-steps."""
        self._motion_woken = True
        self._motion_wake.notify()

    def _say(self, text: str) -> None:
        # Lone surrogates (possible in a model's or a caller's str) cannot cross DDS.
        self.response_pub.publish(String(data=text.encode("utf-8", "replace").decode("utf-8")))

    def halt(self, reason: str, always: bool = True) -> None:
        """Drop the plan and publish zero (if `always` or something was moving)."""
        with self._lock:
            was_moving = self._motion.halt()
            zero = self._twist(0.0, 0.0) if always or was_moving else None
            self._wake_motion()
        self._send_twist(zero)
        if was_moving:
            self.get_logger().info(f"motion stopped: {reason}")

    def stop(self, reason: str) -> None:
        """The fast path: cancel generation and pending work, publish zero now."""
        with self._lock:
            self._job_id += 1
            self._pending = None
            self._cancel.set()
            self._motion.halt()
            zero = self._twist(0.0, 0.0)
            self._wake_motion()
        self._send_twist(zero)
        self.get_logger().info(f"stop: {reason}")

    # ------------------------------------------------------------------ callbacks
    def _on_command(self, msg: String) -> None:
        try:
            self.handle_command(msg.data)
        except Exception as exc:  # never let one message take the node down
            self.stop(f"error while handling a command: {type(exc).__name__}: {exc}")
            self.get_logger().error(f"command handling failed: {exc!r}")

    def handle_command(self, raw) -> None:
        limit = self.config.max_command_chars
        text = sanitise_command(raw, limit)
        if len(raw) > limit:
            self.get_logger().warning(f"command of {len(raw)} characters cut to {limit}")
        if is_stop_command(text):
            self.stop(f"stop command {text!r}")
            self._say(STOP_REPLY)
            return
        if not text:
            self.get_logger().warning("empty command ignored")
            self._say("Ignored an empty command.")
            return
        self.halt("preempted by a new command", always=False)
        with self._lock:
            self._job_id += 1
            if self._pending is not None:
                self.get_logger().warning(
                    f"dropping command {self._pending.command[:60]!r}: superseded")
            if self._busy is not None:
                self._cancel.set()  # the running generation is stale now
            self._pending = Job(self._job_id, text)
            self._work_ready.notify()

    def _on_odom(self, msg: Odometry, info) -> None:  # info: rclpy MessageInfo
        p = msg.pose.pose
        now = time.monotonic()
        # How old this pose is: the executor extrapolates it by the commanded speed.
        received_ns = info.get("received_timestamp", 0) if isinstance(info, dict) else 0
        stamp = msg.header.stamp
        age = message_age(stamp.sec * 10**9 + stamp.nanosec,
                          self.get_clock().now().nanoseconds, received_ns, time.time_ns())
        step = twist = None
        with self._lock:
            if self._motion.update_odometry(p.position.x, p.position.y, yaw_from_quaternion(p.orientation),
                                            now, age):
                # Covered: publish the next Twist (or zero) here, not one thread hop later.
                step = self._motion.step(now)
                twist = self._twist(*step.twist) if step.twist is not None else None
                self._wake_motion()
        self._send_twist(twist)
        if step is not None and step.event:
            self.get_logger().info(step.event)

    def _on_battery(self, msg: BatteryState) -> None:
        self._battery = (msg.percentage, msg.voltage)

    def _on_scan(self, msg: LaserScan) -> None:
        self._scan = msg

    def status_texts(self) -> tuple[str, str]:
        """What {battery} and {obstacles} become, from the latest sensor messages."""
        battery, scan, cfg = self._battery, self._scan, self.config
        battery = battery_text(*battery) if battery else \
            f"unknown (no /{cfg.battery_topic.lstrip('/')} received)"
        obstacles = obstacles_text(scan.ranges, scan.angle_min, scan.angle_increment,
                                   scan.range_min, scan.range_max) if scan else \
            f"unknown (no /{cfg.scan_topic.lstrip('/')} received)"
        return battery, obstacles

    # ------------------------------------------------------------------ threads
    def _guarded_loop(self, loop) -> None:
        while not self._closing:
            try:
                loop()
            except Exception as exc:  # log, stop the robot, keep serving
                self.get_logger().error(f"{loop.__name__} failed: {exc!r}")
                self.stop(f"internal error: {type(exc).__name__}")

    def _worker_loop(self) -> None:
        while True:
            with self._lock:
                self._busy = None
                while self._pending is None and not self._closing:
                    self._work_ready.wait()
                if self._closing:
                    return
                job, self._pending, self._busy = self._pending, None, self._pending
                self._cancel = cancel = threading.Event()
            self.serve(job, cancel)

    def serve(self, job: Job, cancel: threading.Event) -> None:
        """Model -> reply -> motion, for one command (worker thread). With stream_actions
        each action starts as soon as its line is complete."""
        started = time.monotonic()
        cfg = self.config
        stream = StreamingReply(cfg.limits, cfg.places, *self.status_texts()) \
            if cfg.stream_actions else None
        pieces, failed = [], None
        answer = self.model.stream_lines(job.command, cancel)
        try:
            for piece in answer:
                pieces.append(piece)
                if stream is None:
                    continue
                update = stream.add(piece)
                if update.segments and not self._run_segments(job, update.segments):
                    return  # superseded: the newer command owns the robot now
                if update.failed is not None:
                    failed = update.failed  # no later line can make this answer executable
                    break
        except GenerationCancelled:
            self.get_logger().info(f"generation for {job.command[:60]!r} cancelled")
            return
        except AnswerTruncated as exc:
            self._reject(job, self._failure_text(
                stream, f"Not moving: {exc} (raise max_new_tokens for longer sequences)."))
            return
        except Exception as exc:
            self.stop(f"model error: {type(exc).__name__}")
            self.get_logger().error(f"model failed on {job.command[:60]!r}: {exc!r}")
            self._say(self._failure_text(
                stream, f"Not moving: the model failed ({type(exc).__name__}: {exc})."))
            return
        finally:
            answer.close()  # ends a generation abandoned part-way
        text = "".join(pieces).strip()
        self.get_logger().info(f"model ({time.monotonic() - started:.2f} s): {text[:200]!r}")
        if stream is None:
            reply, segments = build_reply(text, cfg.limits, cfg.places, *self.status_texts()), None
        elif failed is not None:
            reply, segments = failed, []
        else:
            reply, segments = stream.finish()
        with self._lock:
            if job.id != self._job_id or self._closing:
                self.get_logger().info(f"dropping the answer to {job.command[:60]!r}: superseded")
                return
            zero = None
            if not reply.ok and self._motion.halt():  # a streamed answer failed part-way
                zero = self._twist(0.0, 0.0)
            self._say(reply.text)
            if reply.goal is not None:
                self.goal_pub.publish(self._goal_message(reply.goal))
            if segments is None and reply.segments:
                self._motion.start(reply.segments)
            elif segments:
                self._motion.extend(segments)
            self._wake_motion()
        self._send_twist(zero)
        if not reply.ok:
            self.get_logger().warning(reply.text.splitlines()[-1])

    @staticmethod
    def _failure_text(stream: StreamingReply | None, text: str) -> str:
        """`text` ("Not moving: ..."), or, when streamed lines had already started motion,
        "Stopped: ... after N had started"."""
        return stream.fail(text).text if stream is not None else text

    def _reject(self, job: Job, text: str) -> None:
        """Stop whatever `job` already started (streamed lines) and say why."""
        with self._lock:
            if job.id != self._job_id or self._closing:
                return
            zero = self._twist(0.0, 0.0) if self._motion.halt() else None
            self._wake_motion()
            self._say(text)
        self._send_twist(zero)
        self.get_logger().warning(text)

    def _run_segments(self, job: Job, segments) -> bool:
        """Start (first line) or append (later lines) streamed segments, unless `job` is
        stale. False when it is."""
        with self._lock:
            if job.id != self._job_id or self._closing:
                return False
            if self._busy_started != job.id:
                self._busy_started = job.id
                self._motion.start(segments)
            else:
                self._motion.extend(segments)
            self._wake_motion()
        return True

    def _goal_message(self, place) -> PoseStamped:
        msg = PoseStamped()
        msg.header.frame_id = self.config.frame_id
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = place.x, place.y
        q = msg.pose.orientation
        q.x, q.y, q.z, q.w = yaw_to_quaternion(place.yaw)
        return msg

    def _motion_loop(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                self._motion_woken = False
                step = self._motion.step(time.monotonic())
                twist = self._twist(*step.twist) if step.twist is not None else None
            # Publish and log without the lock: odometry and commands are served meanwhile.
            self._send_twist(twist)
            if step.event:
                self.get_logger().info(step.event)
            with self._lock:
                if not self._motion_woken and not self._closing:
                    timeout = None if step.wake_at is None else \
                        max(0.0, step.wake_at - time.monotonic())
                    self._motion_wake.wait(timeout)

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        """Zero first, then stop the threads, then the ROS handles."""
        if not hasattr(self, "_threads"):  # __init__ failed (bad parameters, no model)
            return super().destroy_node()
        try:
            self.stop("node shutting down")
        except Exception as exc:  # the context may already be gone
            self.get_logger().warning(f"could not publish zero on shutdown: {exc!r}")
        with self._lock:
            self._closing = True
            self._work_ready.notify_all()
            self._motion_wake.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
        super().destroy_node()


def warm_up(model, logger=None) -> float:
    """Generate the first line of one answer, so the first real command does not pay
    for lazy initialisation (kernels, allocator, caches). Seconds taken; never raises."""
    started = time.monotonic()
    answer = model.stream_lines(WARM_UP_COMMAND)
    try:
        next(answer, None)  # one line is enough: every code path has run once
    except Exception as exc:  # a broken model shows itself on the first command
        if logger is not None:
            logger.warning(f"model warm-up failed: {type(exc).__name__}: {exc}")
    finally:
        answer.close()
    return time.monotonic() - started


def main(args=None) -> int:
    # Our own SIGINT/SIGTERM handlers: rclpy's would invalidate the context before
    # `finally` could publish the last zero Twist.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    logger = rclpy.logging.get_logger("controller")
    quit_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: quit_requested.set())
    node, executor, spinner, code = None, None, None, 0
    try:
        started = time.monotonic()
        node = ControllerNode()
        loaded = time.monotonic() - started
        warm = warm_up(node.model, logger)
        # Everything loaded so far lives as long as the process: move it out of the
        # collector's reach, so a full collection cannot stall the motion loop.
        gc.collect()
        gc.freeze()
        logger.info(f"ready {time.monotonic() - started:.2f} s after start "
                    f"(model {loaded:.2f} s, warm-up {warm:.2f} s)")
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        errors = []

        def spin():
            try:
                executor.spin()
            except ExternalShutdownException:
                pass
            except Exception as exc:
                errors.append(exc)
            finally:
                quit_requested.set()

        spinner = threading.Thread(target=spin, daemon=True, name="controller-executor")
        spinner.start()
        while not quit_requested.wait(0.2):
            pass
        if errors:
            raise errors[0]
    except (ParameterException, ValueError) as exc:
        logger.error(f"invalid parameters: {exc}")
        code = 2
    except (AdapterError, ModelLoadError) as exc:
        logger.error(f"cannot load the model: {exc} (train an adapter with `python -m "
                     f"training.train`, pass adapter:=DIR, or model_backend:=fixed for a dry run)")
        code = 1
    except Exception as exc:
        logger.error(f"controller failed: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        if node is not None:
            try:
                node.stop("shutting down")  # the last zero Twist, before anything is torn down
            except Exception as exc:
                logger.error(f"could not publish the last zero Twist: {exc!r}")
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            spinner.join(timeout=2.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    raise SystemExit(main())

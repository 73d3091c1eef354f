"""ROS 2 node `controller`: /command text -> model -> /response text and /cmd_vel motion.

Threads, and why:
- callback thread (SingleThreadedExecutor, `make_executor`): every subscription
  callback, one at a time in arrival order, so a stop can never overtake the command
  before it. Callbacks are short and never wait for the model, so a stop is served
  while the model is busy. Between messages the thread sleeps in rcl's wait set.
  rclpy's MultiThreadedExecutor busy-spins once sensor topics flow (ros2/rclpy#1452),
  holding the GIL: the motion thread starved (motions cut short, 0.5 s Twist gaps,
  1 s stops); rclpy.experimental's EventsExecutor failed to start this node
  (docs/controller.md, "Executor").
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

import functools
import gc
import os
import signal
import threading
import time
from dataclasses import dataclass

import rclpy
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import BatteryState, LaserScan
from std_msgs.msg import String

from robot_sft.adapter import AdapterError
from robot_sft.answer import AnswerPolicy, answer_command, model_failure_reply
from robot_sft.commands import RateLimit, is_stop_command, sanitise_command
from robot_sft.controller_config import PARAMETERS, make_config
from robot_sft.executor import MotionExecutor, message_age, odometry_problem
from robot_sft.geometry import quaternion_from_yaw, yaw_from_quaternion
from robot_sft.inference.base import GenerationCancelled
from robot_sft.inference.loader import ModelSpec, load_command_model
from robot_sft.models import ModelLoadError
from robot_sft.node_startup import ignore_late_signals, one_line, params_file_problem
from robot_sft.parameters import check_run_time_change
from robot_sft.reply import battery_text, obstacles_text
from robot_sft.response_format import Stop, render_response
from robot_sft.ros_parameters import declare_parameters, parameter_value
from robot_sft.safety import TwistSegment, clamp_twist, describe_plan
from robot_sft.thread_priority import renice, renice_other_threads

STOP_REPLY = f"{render_response([Stop()])}\n{describe_plan([TwistSegment(0.0, 0.0, 0.0)])}"
# Not "stop" (served before the model) and harmless: the answer is never executed.
WARM_UP_COMMAND = "Turn left 1 degree."
RCLError = rclpy_implementation.RCLError
PARAMETER_BY_NAME = {p.name: p for p in PARAMETERS}
LAST_ZERO_ACK_S = 0.2  # how long the last zero Twist may take to be acknowledged on exit


@dataclass(frozen=True)
class Job:
    id: int
    command: str


class ControllerNode(Node):
    def __init__(self, model=None, own_process: bool = False, **kwargs):
        """`model`: answer with this instead of loading one (tests, the demo).
        `own_process`: the node is its process's entry point (main()), so it may set
        the priority of the process's threads (control_nice)."""
        super().__init__("controller", **kwargs)
        # ValueError or ParameterException: an unknown name, a value out of range.
        self._start_values = declare_parameters(self, PARAMETERS)
        self.config = make_config(self._start_values)  # the ceilings of the run-time limits
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
        self._cancel = threading.Event()
        self._battery = None
        self._scan = None
        self._odom_rejected = ""      # why the last /odom was not believed ("" if it was)
        self._rate_limit = RateLimit(cfg.max_commands_per_s)
        self._dropping = False        # commands are being dropped by the rate limit
        self._motion = MotionExecutor(1.0 / cfg.publish_rate_hz, cfg.odom_timeout,
                                      cfg.cmd_vel_timeout, cfg.use_odometry,
                                      cfg.odom_stall_timeout, cfg.odom_loss_open_loop,
                                      cfg.odom_loss_wait)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.cmd_vel_pub = self.create_publisher(Twist, cfg.cmd_vel_topic, 10)
        self.response_pub = self.create_publisher(String, cfg.response_topic, 10)
        self.goal_pub = self.create_publisher(PoseStamped, cfg.goal_topic, 10)
        # One executor thread runs these in arrival order (make_executor). The command
        # callback only takes a lock: the model runs in the worker thread, so a stop is
        # served at once even while the model is busy.
        self.create_subscription(String, cfg.command_topic, self._guarded(self._on_command), 10)
        self.create_subscription(Odometry, cfg.odom_topic, self._guarded(self._on_odom),
                                 qos_profile_sensor_data)
        self.create_subscription(BatteryState, cfg.battery_topic, self._guarded(self._on_battery),
                                 qos_profile_sensor_data)
        self.create_subscription(LaserScan, cfg.scan_topic, self._guarded(self._on_scan),
                                 qos_profile_sensor_data)

        # Before the model loads: the middleware's threads (which deliver a stop) run
        # ahead of other work on the computer; threads made later (the model's) do not.
        self._nice = cfg.control_nice if own_process else 0
        self._model_nice = cfg.model_nice if own_process else 0
        problem = renice_other_threads(self._nice)
        if problem:
            self._nice = self._model_nice = 0
            self.get_logger().info(
                f"control_nice {cfg.control_nice} not applied ({problem}): the stop and motion "
                f"path run at normal priority (grant CAP_SYS_NICE, or control_nice:=0)")
        if model is None and cfg.num_threads > 0 and cfg.model_backend not in ("openai", "fixed"):
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
        return {p.name: parameter_value(self, p.name) for p in PARAMETERS}

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Run-time changes (`ros2 param set`, or any node on the domain): the safety
        limits may only go down from their start-up values; rclpy has checked the hard
        caps (descriptor ranges) and read-only flags already."""
        for param in params:
            spec = PARAMETER_BY_NAME.get(param.name)
            reason = spec and check_run_time_change(spec, self._start_values[param.name],
                                                    param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
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
            self._motion.stall_timeout = config.odom_stall_timeout
            self._motion.odom_loss_wait = config.odom_loss_wait
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
    def _guarded(self, callback):
        """`callback` for a subscription: an exception in it is logged and stops the
        robot (zero Twist), and the node goes on serving. Unguarded, it would leave the
        executor's spin and end the process."""
        @functools.wraps(callback)  # rclpy reads the signature: (msg) or (msg, info)
        def guarded(*args):
            try:
                callback(*args)
            except Exception as exc:
                self.stop(f"error in {callback.__name__}: {type(exc).__name__}")
                self.get_logger().error(f"{callback.__name__} failed: {exc!r}")
        return guarded

    def _quote(self, text: str, length: int = 60) -> str:
        """Operator text for a log line: quoted, or only its length when log_commands
        is false (deployments that must not record what operators said)."""
        return repr(text[:length]) if self.config.log_commands else f"<{len(text)} characters>"

    def _on_command(self, msg: String) -> None:
        self.handle_command(msg.data)

    def handle_command(self, raw) -> None:
        limit = self.config.max_command_chars
        text = sanitise_command(raw, limit)
        if len(raw) > limit:
            self.get_logger().warning(f"command of {len(raw)} characters cut to {limit}")
        if is_stop_command(text):
            self.stop(f"stop command {self._quote(text)}")
            self._say(STOP_REPLY)
            return
        if not self._rate_limit.allow(time.monotonic()):
            if not self._dropping:  # one line per burst
                self.get_logger().warning(
                    f"more than max_commands_per_s={self.config.max_commands_per_s:g}: "
                    f"dropping commands until the rate falls (stop phrases still pass)")
            self._dropping = True
            return
        self._dropping = False
        if not text:
            self.get_logger().warning("empty command ignored")
            self._say("Ignored an empty command.")
            return
        self.halt("preempted by a new command", always=False)
        with self._lock:
            self._job_id += 1
            if self._pending is not None:
                self.get_logger().warning(
                    f"dropping command {self._quote(self._pending.command)}: superseded")
            if self._busy is not None:
                self._cancel.set()  # the running generation is stale now
            self._pending = Job(self._job_id, text)
            self._work_ready.notify()

    def _on_odom(self, msg: Odometry, info) -> None:  # info: rclpy MessageInfo
        p = msg.pose.pose
        now = time.monotonic()
        stamp = msg.header.stamp
        stamp_ns, clock_ns = stamp.sec * 10**9 + stamp.nanosec, self.get_clock().now().nanoseconds
        # Odometry that lies (NaN, no rotation, stamped in the future or long ago) is no
        # odometry: it must not keep a closed-loop move alive or end it.
        problem = odometry_problem(p.position.x, p.position.y, p.orientation, stamp_ns, clock_ns)
        if problem != self._odom_rejected:
            self._odom_rejected = problem
            if problem:
                self.get_logger().warning(f"ignoring /odom with {problem}: counted as no odometry")
        if problem:
            return
        # How old this pose is: the executor extrapolates it by the commanded speed.
        received_ns = info.get("received_timestamp", 0) if isinstance(info, dict) else 0
        age = message_age(stamp_ns, clock_ns, received_ns, time.time_ns())
        step = twist = None
        with self._lock:
            if self._motion.update_odometry(p.position.x, p.position.y, yaw_from_quaternion(p.orientation),
                                            now, age):
                # Covered: publish the next Twist (or zero) here, not one thread hop later.
                step = self._motion.step(now)
                twist = self._twist(*step.twist) if step.twist is not None else None
                self._wake_motion()
        self._send_twist(twist)
        if step is not None:
            self._report(step)

    def _report(self, step) -> None:
        """Log a motion step's event; say why a plan was abandoned (odometry lost,
        blocked, a starved loop) on /response, where the user looks."""
        if step.stopped:
            self._say(step.stopped)
            self.get_logger().warning(f"{step.event}")
        elif step.event:
            self.get_logger().info(step.event)

    def _on_battery(self, msg: BatteryState) -> None:
        self._battery = (time.monotonic(), (msg.percentage, msg.voltage))

    def _on_scan(self, msg: LaserScan) -> None:
        self._scan = (time.monotonic(), msg)

    @property
    def _policy(self) -> AnswerPolicy:
        return AnswerPolicy.from_config(self.config)

    def status_texts(self) -> tuple[str, str]:
        """What {battery} and {obstacles} become, from the latest sensor messages: never
        from a message older than status_max_age (a scan from before the last move
        describes another place)."""
        cfg, now = self.config, time.monotonic()

        def latest(received, topic: str):
            if received is None:
                return None, f"unknown (no /{topic.lstrip('/')} received)"
            age = now - received[0]
            if age > cfg.status_max_age:
                return None, f"unknown (the last /{topic.lstrip('/')} is {age:.1f} s old)"
            return received[1], ""

        battery, battery_unknown = latest(self._battery, cfg.battery_topic)
        scan, scan_unknown = latest(self._scan, cfg.scan_topic)
        return (battery_text(*battery) if battery else battery_unknown,
                obstacles_text(scan.ranges, scan.angle_min, scan.angle_increment,
                               scan.range_min, scan.range_max) if scan else scan_unknown)

    # ------------------------------------------------------------------ threads
    def _guarded_loop(self, loop) -> None:
        if loop == self._motion_loop:
            renice(self._nice)  # the motion thread publishes every Twist
        elif self._model_nice:
            problem = renice(self._model_nice)  # the worker runs the model (llama.cpp's
            if problem:                          # one thread computes in it)
                self.get_logger().info(f"model_nice {self._model_nice} not applied ({problem})")
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
        """Model -> reply -> motion, for one command (worker thread). Nothing moves until the
        whole answer is parsed, grounded in the command and planned (robot_sft.answer)."""
        try:
            answer = answer_command(self.model, job.command, self._policy, self.status_texts,
                                    cancel)
        except GenerationCancelled:
            self.get_logger().info(f"generation for {self._quote(job.command)} cancelled")
            return
        except Exception as exc:
            self.stop(f"model error: {type(exc).__name__}")
            self.get_logger().error(f"model failed on {self._quote(job.command)}: {exc!r}")
            self._say(model_failure_reply(exc).text)
            return
        reply = answer.reply
        times = getattr(self.model, "last_times", None)  # where the model's time went
        detail = "" if times is None else (
            f": prompt {times.prompt_tokens} tokens {1000 * times.prefill_s:.0f} ms, "
            f"{times.fed_tokens} more {1000 * sum(times.token_s):.0f} ms in {times.passes} "
            f"passes, {times.forced} forced by the grammar")
        self.get_logger().info(f"model ({1000 * answer.seconds:.0f} ms{detail}; confidence "
                               f"{answer.confidence:.2f}): {self._quote(answer.text, 200)}")
        with self._lock:
            if job.id != self._job_id or self._closing:
                self.get_logger().info(f"dropping the answer to {self._quote(job.command)}: "
                                       f"superseded")
                return
            self._say(reply.text)
            if reply.goal is not None:
                self.goal_pub.publish(self._goal_message(reply.goal))
            if reply.segments:
                self._motion.start(reply.segments)
            self._wake_motion()
        if not reply.ok:
            self.get_logger().warning(self._quote(reply.text.splitlines()[-1], 200))

    def _goal_message(self, place) -> PoseStamped:
        msg = PoseStamped()
        msg.header.frame_id = self.config.frame_id
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = place.x, place.y
        q = msg.pose.orientation
        q.x, q.y, q.z, q.w = quaternion_from_yaw(place.yaw)
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
            self._report(step)
            with self._lock:
                if not self._motion_woken and not self._closing:
                    timeout = None if step.wake_at is None else \
                        max(0.0, step.wake_at - time.monotonic())
                    self._motion_wake.wait(timeout)

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        """Zero first (and wait until subscribers acknowledged it), then stop the threads,
        then the ROS handles."""
        if not hasattr(self, "_threads"):  # __init__ failed (bad parameters, no model)
            return super().destroy_node()
        try:
            self.stop("node shutting down")
            # Destroying the publisher right after publishing lost the zero in 1 of 5
            # crash exits: it is reliable, so wait (bounded) for its delivery first.
            self.cmd_vel_pub.wait_for_all_acked(Duration(seconds=LAST_ZERO_ACK_S))
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


def make_executor(context=None) -> SingleThreadedExecutor:
    """The executor for the controller's callbacks, wherever the node runs (main(),
    SimSession, benchmarks, tests): one thread, see the module docstring for why."""
    return SingleThreadedExecutor(context=context)


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
    # Our own SIGINT/SIGTERM handlers, set first and kept to the end: rclpy's would
    # invalidate the context before `finally` could publish the last zero Twist.
    quit_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: quit_requested.set())
    logger = rclpy.logging.get_logger("controller")
    node, executor, spinner, code = None, None, None, 0
    try:
        problem = params_file_problem(args)
        if problem is not None:
            logger.error(f"cannot start: {problem}")
            return 2
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        started = time.monotonic()
        node = ControllerNode(own_process=True)
        loaded = time.monotonic() - started
        warm = warm_up(node.model, logger)
        # Everything loaded so far lives as long as the process: move it out of the
        # collector's reach, so a full collection cannot stall the motion loop.
        gc.collect()
        gc.freeze()
        logger.info(f"ready {time.monotonic() - started:.2f} s after start "
                    f"(model {loaded:.2f} s, warm-up {warm:.2f} s)")
        executor = make_executor()
        executor.add_node(node)
        errors = []

        def spin():
            renice(node._nice)  # callbacks: the stop path
            try:
                executor.spin()
            except ExternalShutdownException:
                pass
            except Exception as exc:
                errors.append(exc)
            finally:
                quit_requested.set()

        spinner = threading.Thread(target=spin, daemon=True, name="controller-callbacks")
        spinner.start()
        while not quit_requested.wait(0.2):
            pass
        if errors:
            raise errors[0]
    except (ParameterException, ValueError) as exc:
        logger.error(f"invalid parameters: {one_line(exc)}")
        code = 2
    except RCLError as exc:  # arguments rcl cannot use
        logger.error(f"cannot start: {one_line(exc)}")
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
        ignore_late_signals()
    return code


if __name__ == "__main__":
    raise SystemExit(main())

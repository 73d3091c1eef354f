"""What `ros2 launch robot_sft controller.launch.py use_sim:=true` does, without the
ros2 CLI: the INSTALLED `sim` and `controller` executables as separate processes,
both with the installed parameters file (the sim ignores the controller-only
parameters in it), driven over real DDS.

Needs `bash scripts/install.sh` after any change to robot_sft (scripts/test.sh does it).
The processes run in a scratch directory, so they import the installed package and
not this source tree.
"""
import os
import signal
import subprocess
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from std_msgs.msg import String  # noqa: E402

from robot_sft.node_processes import installed_executable, installed_params_file  # noqa: E402
from robot_sft.sim.session import probe_on_domain, wait_for  # noqa: E402
from ros_helpers import check_install_is_current, unique_domain_id, unique_namespace  # noqa: E402

pytestmark = pytest.mark.ros

ANSWER = "Move forward 0.5 m."


@pytest.fixture
def launched(tmp_path):
    """The two nodes as the launch file starts them, plus a probe node in this process."""
    check_install_is_current()
    namespace = unique_namespace("launch")
    env = {**os.environ, "ROS_DOMAIN_ID": str(unique_domain_id()), "PYTHONUNBUFFERED": "1"}
    remap = ["--ros-args", "-r", f"__ns:=/{namespace}"]
    params = ["--params-file", str(installed_params_file())]  # both nodes, as in the launch file
    commands = {
        "sim": [installed_executable("sim"), *remap, *params],
        "controller": [installed_executable("controller"), *remap, *params,
                       "-p", "model_backend:=fixed", "-p", f"fixed_response:={ANSWER}"],
    }
    processes = {}
    for name, command in commands.items():
        log = open(tmp_path / f"{name}.log", "w")
        processes[name] = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log,
                                           stderr=subprocess.STDOUT)
    try:
        with probe_on_domain(int(env["ROS_DOMAIN_ID"]), namespace) as probe:
            yield probe, processes, tmp_path
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def logs(tmp_path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(tmp_path.glob("*.log")))


def test_installed_nodes_drive_and_stop_cleanly_on_sigint(launched):
    probe, processes, tmp_path = launched
    ready = wait_for(lambda: probe.command_pub.get_subscription_count() >= 1
                     and probe.pose() is not None
                     and all(p.poll() is None for p in processes.values()), 60.0)
    assert ready, f"nodes did not come up\n{logs(tmp_path)}"
    time.sleep(0.5)  # the controller's /odom subscription is matched a moment later

    result = probe.send("drive forward 0.5 m", timeout=20.0)
    assert not result.timed_out, logs(tmp_path)
    assert result.response.startswith(ANSWER)
    (x0, y0, _), (x1, y1, _) = result.start_pose, result.final_pose
    assert x1 - x0 == pytest.approx(0.5, abs=0.02), logs(tmp_path)  # odometry-closed
    assert y1 - y0 == pytest.approx(0.0, abs=1e-6)

    # Interrupt both while the robot is moving: the last Twist must be zero.
    probe.command_pub.publish(String(data="drive forward 0.5 m again"))
    assert wait_for(lambda: probe.twists and probe.twists[-1][1] > 0.0, 10.0), logs(tmp_path)
    for name in ("controller", "sim"):
        processes[name].send_signal(signal.SIGINT)
    codes = {name: p.wait(timeout=15) for name, p in processes.items()}
    time.sleep(0.3)  # the last message in flight
    assert codes == {"controller": 0, "sim": 0}, logs(tmp_path)
    assert probe.twists[-1][1:] == (0.0, 0.0), f"last /cmd_vel {probe.twists[-1]}"
    assert "Traceback" not in logs(tmp_path), logs(tmp_path)
    # The MultiThreadedExecutor's pool left "exception was never retrieved" (Destroyable).
    assert "never retrieved" not in logs(tmp_path), logs(tmp_path)


@pytest.mark.parametrize("argument, message", [
    ("rate_hz:=50", "expecting type 'DOUBLE'"),            # ROS wants 50.0 for a double
    ("start_pose:=[3.0, 1.2, 0.0]", "inside a wall or an obstacle"),
])
def test_installed_sim_refuses_bad_parameters(tmp_path, argument, message):
    check_install_is_current()
    env = {**os.environ, "ROS_DOMAIN_ID": str(unique_domain_id())}
    done = subprocess.run([installed_executable("sim"), "--ros-args", "-p", argument],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_installed_sim_takes_the_shared_parameters_from_the_controller_file(tmp_path):
    """The launch file gives the sim the controller's YAML: it applies what it declares
    (cmd_vel_timeout here) and starts despite the controller-only parameters."""
    check_install_is_current()
    text = installed_params_file().read_text()
    assert "cmd_vel_timeout: 0.5 " in text
    params = tmp_path / "controller.yaml"
    params.write_text(text.replace("cmd_vel_timeout: 0.5 ", "cmd_vel_timeout: 0.9 "))
    env = {**os.environ, "ROS_DOMAIN_ID": str(unique_domain_id()), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "sim.log"
    with open(log, "w") as out:
        sim = subprocess.Popen([installed_executable("sim"), "--ros-args", "-r",
                                f"__ns:=/{unique_namespace('params')}", "--params-file",
                                str(params)], cwd=tmp_path, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        started = wait_for(lambda: "cmd_vel timeout" in log.read_text() or sim.poll() is not None,
                           60.0)
        assert started and sim.poll() is None, log.read_text()
        assert "cmd_vel timeout 0.9 s" in log.read_text()
        sim.send_signal(signal.SIGINT)
        assert sim.wait(timeout=15) == 0, log.read_text()
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()


def test_installed_sim_exits_cleanly_however_often_it_is_interrupted(tmp_path):
    """Ctrl-C under ros2 launch: launch signals its children and the terminal signals
    the whole group, so SIGINTs keep arriving while the sim shuts down. It used to put
    Python's handler back on the way out: a KeyboardInterrupt traceback (2 of 11)."""
    check_install_is_current()
    env = {**os.environ, "ROS_DOMAIN_ID": str(unique_domain_id()), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "sim.log"
    with open(log, "w") as out:
        sim = subprocess.Popen([installed_executable("sim"), "--ros-args", "-r",
                                f"__ns:=/{unique_namespace('sigint')}"], cwd=tmp_path, env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: "cmd_vel timeout" in log.read_text() or sim.poll() is not None,
                        60.0), log.read_text()
        deadline = time.monotonic() + 5.0
        while sim.poll() is None and time.monotonic() < deadline:
            sim.send_signal(signal.SIGINT)
            time.sleep(0.002)
        assert sim.wait(timeout=15) == 0, log.read_text()
        assert "Traceback" not in log.read_text() and "KeyboardInterrupt" not in log.read_text()
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()

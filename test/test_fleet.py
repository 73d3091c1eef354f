"""A fleet on one inference server, as `ros2 launch robot_sft fleet.launch.py robots:=3
use_sim:=true` starts it (robot_sft.fleet gives both the same controllers), without the
ros2 CLI: a real llama.cpp server (python -m llama_cpp.server), and per robot the
INSTALLED `controller` and `sim` executables as separate processes in namespaces
robot1..robot3, driven over real DDS from this process.

Needs `bash scripts/install.sh` after any change to robot_sft. The model is a random LoRA
on the embedded SmolLM2 (test/inference_server.py): the robots decode under each
command's own grammar (constrained_decoding), so every answer holds only the command's
own numbers - which shows that each robot got the answer to its own command.
"""
import contextlib
import signal
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from std_msgs.msg import String  # noqa: E402

from inference_server import (  # noqa: E402
    MODEL_NAME, require_llama_server, served_adapter, start_server,
)
from robot_sft.fleet import fleet_robots  # noqa: E402
from robot_sft.node_processes import (  # noqa: E402
    NodeProcesses, installed_executable, installed_params_file,
)
from robot_sft.sim.session import probe_on_domain, wait_for  # noqa: E402
from ros_helpers import check_install_is_current, unique_domain_id, unique_namespace  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROBOTS = 3
# The same for every robot in the fleet (what a params file or the launch would set).
SHARED = {"constrained_decoding": True, "max_new_tokens": 96, "server_timeout": 30.0,
          "control_nice": 0, "num_threads": 1}
# (command, the numbers its answer may hold, numbers of the other robots' commands)
# The served adapter is random: the base model writes on after its first line, and a
# server's grammar lets it end in a refusal there (which the robot refuses), so each
# command asks for the "Stop." it goes on to write.
COMMANDS = [("Move forward 0.3 m and stop.", "0.3"), ("Move backward 0.7 m and stop.", "0.7"),
            ("Turn right 45 deg then stop.", "45")]
LONG = "Turn left 90 deg, then stop."  # 17 lines from this model: long enough to interrupt


def controller_command(namespace: str, **params) -> list[str]:
    command = [installed_executable("controller"), "--ros-args", "-r", f"__ns:=/{namespace}",
               "--params-file", str(installed_params_file())]
    for name, value in params.items():
        command += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
    return command


class Fleet:
    def __init__(self, nodes, probes, url, adapter, gguf, prefix, domain_id):
        self.nodes, self.probes, self.url, self.adapter = nodes, probes, url, adapter
        self.gguf = gguf
        self.prefix, self.domain_id = prefix, domain_id

    def logs(self) -> str:
        return self.nodes.logs()[-6000:]

    def expected(self, command: str) -> str:
        """What the server answers this command, asked the way the robots ask."""
        from robot_sft.inference.loader import ModelSpec, load_command_model

        spec = ModelSpec(backend="openai", adapter=str(self.adapter), server_url=self.url,
                         server_model=MODEL_NAME, constrained=True, max_new_tokens=96)
        return load_command_model(spec).respond(command)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    require_llama_server()
    check_install_is_current()
    root = tmp_path_factory.mktemp("fleet")
    adapter, gguf = served_adapter(root)
    domain_id, prefix = unique_domain_id(), unique_namespace("fleet")
    with NodeProcesses(root / "logs", domain_id, prefix) as nodes, \
            contextlib.ExitStack() as stack:
        url = start_server(nodes, gguf)
        robots = fleet_robots(ROBOTS, str(adapter), url, MODEL_NAME)
        probes = []
        for robot in robots:
            namespace = f"{prefix}/{robot.namespace}"
            nodes.start(f"sim_{robot.namespace}", [
                installed_executable("sim"), "--ros-args", "-r", f"__ns:=/{namespace}",
                "--params-file", str(installed_params_file())])
            nodes.start(robot.namespace, controller_command(namespace, **robot.parameters,
                                                            **SHARED))
            probes.append(stack.enter_context(probe_on_domain(domain_id, namespace)))
        ready = wait_for(lambda: all(p.command_pub.get_subscription_count() >= 1
                                     and p.pose() is not None for p in probes)
                         and nodes.alive(), 120.0)
        assert ready, f"the fleet did not come up\n{nodes.logs()[-6000:]}"
        assert wait_for(lambda: all("ready" in nodes.log(r.namespace) for r in robots), 120.0)
        time.sleep(1.0)  # the controllers' /odom subscriptions match a moment later
        yield Fleet(nodes, probes, url, adapter, gguf, prefix, domain_id)


def responses_after(probe, since: float) -> list[str]:
    responses, _, _ = probe.snapshot()
    return [text for t, text in responses if t >= since]


def stop(*probes) -> None:
    """Stop these robots and wait for their replies (so none arrives in the next test)."""
    since = time.monotonic()
    for probe in probes:
        probe.command_pub.publish(String(data="stop"))
    assert wait_for(lambda: all(any(r.startswith("Stop.") for r in responses_after(p, since))
                                for p in probes), 10.0)
    time.sleep(0.3)


def test_each_robot_gets_the_answer_to_its_own_command_and_moves(fleet):
    expected = [fleet.expected(command) for command, _ in COMMANDS]
    for (command, number), answer in zip(COMMANDS, expected):
        assert number in answer.splitlines()[0], (command, answer)  # the test's premise
    since = time.monotonic()
    for probe, (command, _) in zip(fleet.probes, COMMANDS):  # all at once
        probe.command_pub.publish(String(data=command))
    assert wait_for(lambda: all(responses_after(p, since) for p in fleet.probes), 60.0), \
        fleet.logs()
    for probe, (command, number), answer in zip(fleet.probes, COMMANDS, expected):
        reply = responses_after(probe, since)[0]
        assert reply.splitlines()[0] == answer.splitlines()[0], (command, reply)
        others = [n for _, n in COMMANDS if n != number]
        assert not any(n in reply for n in others), (command, reply)
        assert probe.twist_after(since, moving=True, timeout=10.0) is not None, fleet.logs()
    time.sleep(1.0)
    for probe in fleet.probes:  # one answer per command: none lost, none twice
        assert len([r for r in responses_after(probe, since)
                    if "Not moving" not in r and "Stopped" not in r]) == 1
    stop(*fleet.probes)
    assert all("Traceback" not in fleet.nodes.log(f"robot{i + 1}") for i in range(ROBOTS))


def test_a_robot_on_a_server_loads_no_torch(fleet):
    """The point of a fleet server: the robots keep no model. num_threads (set for the whole
    fleet in SHARED, as a shared params file would) used to import torch (~190 MB each)."""
    for i in range(ROBOTS):
        pid = fleet.nodes.processes[f"robot{i + 1}"].pid
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libtorch" not in maps and "llama" not in maps.lower(), f"robot{i + 1}"


def test_a_stop_during_a_streamed_answer_is_served_at_once_and_closes_the_stream(fleet):
    probe = fleet.probes[0]
    server_log = lambda: fleet.nodes.log("server").count("Disconnected from client")  # noqa
    before = server_log()
    since = time.monotonic()
    probe.command_pub.publish(String(data=LONG))
    time.sleep(0.4)  # the server is writing the answer
    assert not responses_after(probe, since), "the answer came before the stop"
    stopped = time.monotonic()
    probe.command_pub.publish(String(data="stop"))
    zero = probe.twist_after(stopped, moving=False, timeout=2.0)
    assert zero is not None and zero - stopped < 0.1, fleet.logs()
    assert wait_for(lambda: server_log() > before, 5.0), fleet.nodes.log("server")[-2000:]
    time.sleep(1.0)  # the cancelled answer never moves the robot
    _, twists, _ = probe.snapshot()
    assert not any(t > stopped and (lx or az) for t, lx, az in twists)
    assert responses_after(probe, stopped)[0].startswith("Stop.")
    time.sleep(0.3)


def test_a_newer_command_replaces_the_running_request(fleet):
    probe = fleet.probes[1]
    command, number = COMMANDS[1]
    since = time.monotonic()
    probe.command_pub.publish(String(data=LONG))
    time.sleep(0.3)
    probe.command_pub.publish(String(data=command))
    assert wait_for(lambda: any(number in r for r in responses_after(probe, since)), 60.0), \
        fleet.logs()
    replies = responses_after(probe, since)
    assert not any("Turn left" in r for r in replies), replies  # the older answer is dropped
    assert "cancelled" in fleet.nodes.log("robot2")
    stop(probe)


def test_robots_on_a_server_that_ignores_the_grammar_or_lacks_their_model_do_not_move(fleet):
    """vLLM >= 0.12 ignores the old guided_grammar field with HTTP 200; here vLLM's field
    goes to llama.cpp's server, which ignores it the same way. server_grammar none: the
    answer is only parsed. A wrong server_model: llama.cpp's server would answer with its
    default model; the robot refuses instead."""
    cases = {"ignored": {"server_grammar": "vllm"}, "free": {"server_grammar": "none"},
             "wrong": {"server_model": "nope"}}
    with contextlib.ExitStack() as stack:
        probes = {}
        for name, overrides in cases.items():
            namespace = f"{fleet.prefix}/{name}"
            robot = fleet_robots(1, str(fleet.adapter), fleet.url, MODEL_NAME)[0]
            fleet.nodes.start(name, controller_command(namespace, **{
                **robot.parameters, **SHARED, "constrained_decoding": False, **overrides}))
            probes[name] = stack.enter_context(probe_on_domain(fleet.domain_id, namespace))
        assert wait_for(lambda: all(p.command_pub.get_subscription_count() >= 1
                                    for p in probes.values())
                        and all("ready" in fleet.nodes.log(n) for n in cases), 120.0), \
            fleet.logs()
        since = time.monotonic()
        commands = {"ignored": "Move forward 1 m.", "free": "What time is it?",
                    "wrong": "Move forward 1 m."}
        for name, probe in probes.items():
            probe.command_pub.publish(String(data=commands[name]))
        assert wait_for(lambda: all(responses_after(p, since) for p in probes.values()), 60.0), \
            fleet.logs()
        replies = {name: responses_after(p, since)[0] for name, p in probes.items()}
        assert "the inference server ignored the grammar" in replies["ignored"], replies
        assert "Not moving: could not understand the model's answer" in replies["free"], replies
        assert "has no model 'nope' (it serves: robot): check server_model" in replies["wrong"]
        assert all(len(r.splitlines()) == 1 and r.startswith("Not moving")
                   for r in replies.values()), replies
        assert fleet.nodes.log("ignored").count("server ignored the grammar (") == 1  # once
        time.sleep(0.5)
        for probe in probes.values():
            assert probe.twist_after(since, moving=True, timeout=0.1) is None


def test_a_server_killed_mid_answer_stops_every_robot_at_once_and_they_reconnect(fleet):
    since = time.monotonic()
    for probe in fleet.probes:
        probe.command_pub.publish(String(data=LONG))
    time.sleep(0.4)  # one answer being written, the others queued behind it
    assert not any(responses_after(p, since) for p in fleet.probes)
    killed = time.monotonic()
    fleet.nodes.processes["server"].send_signal(signal.SIGKILL)
    for probe in fleet.probes:
        assert wait_for(lambda: responses_after(probe, killed), 1.0), fleet.logs()
        reply = responses_after(probe, killed)[0]
        assert reply.startswith(("Not moving", "Stopped")) and "inference server" in reply, reply
        zero = probe.twist_after(killed, moving=False, timeout=0.1)
        assert zero is not None and zero - killed < 1.0
    assert all(fleet.nodes.alive(f"robot{i + 1}") for i in range(ROBOTS))
    # The same server comes back on the same port: the robots are served again.
    port = int(fleet.url.rsplit(":", 1)[1])
    start_server(fleet.nodes, fleet.gguf, port=port)
    since = time.monotonic()
    for probe, (command, _) in zip(fleet.probes, COMMANDS):
        probe.command_pub.publish(String(data=command))
    assert wait_for(lambda: all(any(n in r for r in responses_after(p, since))
                                for p, (_, n) in zip(fleet.probes, COMMANDS)), 60.0), \
        fleet.logs()
    stop(*fleet.probes)

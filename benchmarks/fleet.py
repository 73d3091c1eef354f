"""A fleet on one inference server vs the same number of robots with the model in-process.

    python benchmarks/fleet.py --adapter outputs/embedded                 # robots 1, 2, 4, 8
    python benchmarks/fleet.py --adapter outputs/embedded --robots 4 --period 3

For each fleet size N and each way to run the model:
  server:     one llama.cpp server (python -m llama_cpp.server, robot_sft.serving's command
              line) on the adapter's merged GGUF, and N controllers with model_backend openai;
  in-process: N controllers with model_backend llama_cpp, each with the GGUF loaded.
Every controller is the INSTALLED executable in its own process and namespace (robot1..N,
robot_sft.fleet), with no simulator (moves run on time; nothing here needs odometry); this
process is the operators, timing what crosses DDS. Needs `bash scripts/install.sh` after
changes to robot_sft.

Load: every robot gets a command every --period seconds (robots evenly out of phase), from
a list of short moves the trained adapter answers with motion; --period 0 sends each
robot's next command as soon as its previous one is answered (saturation: commands/s is
then the throughput). Printed per run:
  command -> first Twist: median / p90 (a command answered without motion counts as
      'no motion', not as a sample);
  commands/s: answered commands over the run's wall time;
  lost / duplicated: commands with no reply on /response / with more than one;
  RSS: the sum over the controllers (and the server) once loaded; PSS too (shared library
      and file pages split among the processes that map them), from /proc;
  with --kill (server runs): SIGKILL the server while every robot waits for an answer;
      the slowest robot's kill -> zero Twist and kill -> /response.
The same model threads everywhere (--threads, default 1: on a 2-core machine llama.cpp's
second thread waits at spinning barriers whenever another process runs).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from std_msgs.msg import String

from robot_sft.fleet import fleet_robots
from robot_sft.node_processes import (
    NodeProcesses, free_port, installed_executable, installed_params_file, wait_until_serving,
)
from robot_sft.serving import llama_cpp_server_command
from robot_sft.sim.session import probe_on_domain, wait_for

COMMANDS = ("Move forward 0.3 meters", "Turn left 30 degrees", "Move backward 20 centimeters",
            "Turn right 45 degrees", "Drive forward 0.5 m", "Rotate left 20 degrees")
SERVER_NAME = "fleet"


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process, KiB."""
    rss = pss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(q * len(ordered))) - 1)]


class Run:
    """N controllers (and a server) started and loaded."""

    def __init__(self, nodes: NodeProcesses, probes: list, names: list[str], server: str | None):
        self.nodes, self.probes, self.names, self.server = nodes, probes, names, server

    def memory(self) -> tuple[float, float]:
        """Total (RSS, PSS) in MiB of the controllers and the server."""
        pids = [self.nodes.processes[n].pid for n in self.names]
        if self.server:
            pids.append(self.nodes.processes["server"].pid)
        rss, pss = zip(*(memory_kib(pid) for pid in pids))
        return sum(rss) / 1024, sum(pss) / 1024


def start_run(nodes: NodeProcesses, stack, mode: str, count: int, adapter: Path, gguf: Path,
              domain_id: int, prefix: str, threads: int, ready_timeout: float,
              server_grammar: str = "auto") -> Run:
    server = None
    if mode == "server":
        port = free_port()
        process = nodes.start("server", llama_cpp_server_command(gguf, SERVER_NAME, port=port,
                                                                 n_threads=threads))
        server = f"http://127.0.0.1:{port}"
        wait_until_serving(server, process, ready_timeout)
    names, probes = [], []
    for robot in fleet_robots(count, str(adapter), server or "http://127.0.0.1:1", SERVER_NAME):
        params = dict(robot.parameters, num_threads=threads, control_nice=0)
        if mode == "in-process":
            params["model_backend"] = "llama_cpp"
        else:
            params["server_grammar"] = server_grammar
        namespace = f"{prefix}/{robot.namespace}"
        command = [installed_executable("controller"), "--ros-args", "-r", f"__ns:=/{namespace}",
                   "--params-file", str(installed_params_file())]
        for name, value in params.items():
            command += ["-p", f"{name}:={value}"]
        nodes.start(robot.namespace, command)
        names.append(robot.namespace)
        probes.append(stack.enter_context(probe_on_domain(domain_id, namespace)))
    ready = wait_for(lambda: all("after start" in nodes.log(n) for n in names)
                     or not nodes.alive(), ready_timeout, poll=0.5)
    if not ready or not nodes.alive():
        raise SystemExit(f"{mode} x{count} did not start:\n{nodes.logs()[-4000:]}")
    wait_for(lambda: all(p.command_pub.get_subscription_count() >= 1 for p in probes), 30.0)
    time.sleep(1.0)
    return Run(nodes, probes, names, server)


def drive(run: Run, commands: int, period: float) -> dict:
    """Send `commands` commands to every robot; the latencies and counts."""
    count = len(run.probes)
    sent: list[list[float]] = [[] for _ in run.probes]
    started = time.monotonic()
    plan = sorted((started + i * period / count + k * period, i, k)
                  for i in range(count) for k in range(commands)) if period > 0 else None
    if plan:
        for at, i, k in plan:
            time.sleep(max(0.0, at - time.monotonic()))
            sent[i].append(time.monotonic())
            run.probes[i].command_pub.publish(String(data=COMMANDS[(i + k) % len(COMMANDS)]))
    else:  # saturation: each robot's next command once the previous one is answered
        pending = {i: 0 for i in range(count)}
        while pending:
            for i in list(pending):
                replies = [t for t, _ in run.probes[i].snapshot()[0] if t >= started]
                if pending[i] == len(sent[i]) or len(replies) >= len(sent[i]):
                    if len(sent[i]) == commands:
                        del pending[i]
                        continue
                    sent[i].append(time.monotonic())
                    run.probes[i].command_pub.publish(
                        String(data=COMMANDS[(i + len(sent[i])) % len(COMMANDS)]))
                    pending[i] = len(sent[i])
            time.sleep(0.002)
    last = max(s[-1] for s in sent)
    wait_for(lambda: all(len([t for t, _ in p.snapshot()[0] if t >= started]) >= len(s)
                         for p, s in zip(run.probes, sent)), last - time.monotonic() + 60.0)
    time.sleep(1.0)
    first, no_motion, lost, duplicated, answered_at = [], 0, 0, 0, []
    for probe, times in zip(run.probes, sent):
        responses, twists, _ = probe.snapshot()
        bounds = times[1:] + [float("inf")]
        for t0, t1 in zip(times, bounds):
            replies = [t for t, _ in responses if t0 <= t < t1]
            lost += not replies
            duplicated += len(replies) > 1
            answered_at += replies[:1]
            moving = [t for t, lx, az in twists if t0 <= t < t1 and (lx or az)]
            if moving:
                first.append(moving[0] - t0)
            elif replies:
                no_motion += 1
    wall = max(answered_at, default=started) - started
    return {"first": first, "no_motion": no_motion, "lost": lost, "duplicated": duplicated,
            "commands": sum(len(s) for s in sent),
            "per_s": len(answered_at) / wall if wall > 0 else 0.0}


def kill_server(run: Run) -> tuple[float, float]:
    """SIGKILL the server while every robot waits for an answer: the slowest robot's
    (kill -> zero Twist, kill -> /response), s."""
    for i, probe in enumerate(run.probes):
        probe.command_pub.publish(String(data=COMMANDS[i % len(COMMANDS)]))
    time.sleep(0.05)
    killed = time.monotonic()
    run.nodes.processes["server"].send_signal(signal.SIGKILL)
    zeros, says = [], []
    for probe in run.probes:
        zero = probe.twist_after(killed, moving=False, timeout=5.0)
        zeros.append(float("inf") if zero is None else zero - killed)
        wait_for(lambda: any(t >= killed for t, _ in probe.snapshot()[0]), 5.0)
        replies = [t for t, text in probe.snapshot()[0] if t >= killed]
        says.append(replies[0] - killed if replies else float("inf"))
    return max(zeros), max(says)


def report(mode: str, count: int, result: dict, memory: tuple[float, float]) -> str:
    ms = [1000 * s for s in result["first"]]
    latency = (f"{statistics.median(ms):6.0f} / {percentile(ms, 0.9):6.0f} ms" if ms
               else "     - /      - ms")
    return (f"{mode:10s} {count:2d} robots  command -> first Twist median/p90 {latency}  "
            f"{result['per_s']:5.2f} commands/s  lost {result['lost']} duplicated "
            f"{result['duplicated']} no motion {result['no_motion']}/{result['commands']}  "
            f"RSS {memory[0]:6.0f} MiB  PSS {memory[1]:6.0f} MiB")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="outputs/embedded")
    parser.add_argument("--robots", default="1,2,4,8", help="fleet sizes, comma-separated")
    parser.add_argument("--modes", default="server,in-process")
    parser.add_argument("--commands", type=int, default=6, help="commands per robot")
    parser.add_argument("--period", type=float, default=3.0,
                        help="s between a robot's commands (0: saturation)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--server-grammar", default="auto",
                        help="the server robots' server_grammar (auto: the format grammar "
                             "is sent; none: the same free decoding as in-process)")
    parser.add_argument("--kill", action="store_true", help="end server runs by killing it")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    args = parser.parse_args()
    from robot_sft.inference.gguf_export import ensure_gguf

    adapter = Path(args.adapter).resolve()
    gguf = ensure_gguf(adapter, log=print)
    print(f"adapter {adapter}, GGUF {gguf.name}, {os.cpu_count()} CPUs, load average before: "
          f"{load_average()}; period {args.period:g} s, {args.commands} commands per robot, "
          f"{args.threads} model thread(s), server_grammar {args.server_grammar}", flush=True)
    domain_id = 150 + os.getpid() % 50
    for count in (int(n) for n in args.robots.split(",")):
        for mode in args.modes.split(","):
            prefix = f"fleet{os.getpid()}_{mode.replace('-', '')}{count}"
            with tempfile.TemporaryDirectory() as tmp, \
                    NodeProcesses(tmp, domain_id, prefix) as nodes, \
                    contextlib.ExitStack() as stack:
                run = start_run(nodes, stack, mode, count, adapter, gguf, domain_id, prefix,
                                args.threads, args.ready_timeout, args.server_grammar)
                memory = run.memory()
                result = drive(run, args.commands, args.period)
                line = report(mode, count, result, memory) + f"  (load {load_average()})"
                if args.kill and mode == "server":
                    zero, said = kill_server(run)
                    line += f"  kill -> all zero {1000 * zero:.0f} ms, all said {1000 * said:.0f} ms"
                print(line, flush=True)


if __name__ == "__main__":
    main()

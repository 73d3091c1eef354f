"""Controller latencies across processes, with sensors flowing and a core busy.

    python benchmarks/controller_latency.py                      # fixed backend: the node alone
    python benchmarks/controller_latency.py --adapter outputs/embedded --backend llama_cpp
    python benchmarks/controller_latency.py --adapter outputs/embedded --backend transformers

What a user gets: the INSTALLED `controller` and `sim` executables as their own
processes (as ros2 launch starts them, with the installed params file), a
`sensor_traffic` process (720-range /scan at 20 Hz, a 50 Hz odometry on another
topic), a process burning a core (`--no-busy-core` to leave it out), and this
process as the operator, measuring what crossed DDS (Twists are timed by their DDS
receive time). Needs `bash scripts/install.sh` after changes to robot_sft.

  command -> first Twist: publishing a move on /command to the first non-zero Twist
      (model, parsing, planning, DDS; goal with llama.cpp: median < 150 ms);
  stop -> zero Twist: "stop" published during a motion, and while the model is
      generating, to the zero Twist (goal: median < 5 ms, p90 < 20 ms);
  Twist gaps: time between consecutive non-zero Twists of one motion (the publish
      period is 50 ms; goal: max < 150 ms).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time

from std_msgs.msg import String
from tqdm import tqdm

from robot_sft.node_processes import (
    NodeProcesses, burn_a_core_command, installed_executable, installed_params_file,
    module_command,
)
from robot_sft.sim.session import probe_on_domain, wait_for

MOVES = ("Move forward 50 centimeters", "Move backward 50 centimeters")
LONG_MOVES = ("Move forward 2 meters", "Move backward 2 meters")


def summary(name: str, seconds: list, goal: str = "") -> str:
    seconds = [s for s in seconds if s is not None]
    if not seconds:
        return f"{name}: no samples"
    ms = sorted(1000 * s for s in seconds)
    p90 = ms[max(0, int(round(0.9 * len(ms))) - 1)]
    return (f"{name}, {len(ms)} samples: median {statistics.median(ms):.1f} ms, "
            f"p90 {p90:.1f} ms, max {ms[-1]:.1f} ms" + (f" (goal: {goal})" if goal else ""))


def stop_after(probe, command: str, delay: float, wait_moving: bool) -> float | None:
    """Publish `command` (and wait for its first Twist if `wait_moving`), `delay` s
    later publish "stop": seconds from the stop to the zero Twist (None: none came)."""
    since = time.monotonic()
    probe.command_pub.publish(String(data=command))
    if wait_moving and probe.twist_after(since, True, 30.0) is None:
        return None
    time.sleep(delay)
    sent = time.monotonic()
    probe.command_pub.publish(String(data="stop"))
    zero = probe.twist_after(sent, False, 5.0)
    time.sleep(0.3)
    return None if zero is None else zero - sent


def moving_gaps(twists, start: float, end: float) -> list[float]:
    times = [t for t, lx, az in twists if start <= t <= end and (lx or az)]
    return [b - a for a, b in zip(times, times[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["fixed", "llama_cpp", "transformers"],
                        default=None, help="model_backend (default: fixed without --adapter)")
    parser.add_argument("--adapter", help="adapter directory (absolute or relative to here)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--no-busy-core", action="store_true", help="no process burning a core")
    parser.add_argument("-p", dest="overrides", action="append", default=[],
                        metavar="NAME:=VALUE", help="a controller parameter, as ros2 run's -p")
    parser.add_argument("--logs", metavar="DIR",
                        help="keep the nodes' logs here (default: a temporary directory)")
    parser.add_argument("--ready-timeout", type=float, default=300.0,
                        help="seconds for the controller to load (a first llama_cpp start "
                             "exports the GGUF)")
    args = parser.parse_args()
    backend = args.backend or ("llama_cpp" if args.adapter else "fixed")
    params = {"model_backend": backend}
    if args.adapter:
        params["adapter"] = os.path.abspath(args.adapter)
    for override in args.overrides:
        name, _, value = override.partition(":=")
        params[name] = value

    domain_id, namespace = 100 + os.getpid() % 50, f"bench{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp, \
            NodeProcesses(args.logs or tmp, domain_id, namespace) as nodes:
        if not args.no_busy_core:
            nodes.start("busy", burn_a_core_command())
        nodes.start("sensors", [*module_command("robot_sft.sensor_traffic"), *nodes.ros_args()])
        nodes.start("sim", [installed_executable("sim"), *nodes.ros_args(installed_params_file())])
        nodes.start("controller", [installed_executable("controller"),
                                   *nodes.ros_args(installed_params_file(), **params)])
        with probe_on_domain(domain_id, namespace) as probe:
            print(f"starting controller ({backend}), sim, sensor traffic"
                  f"{'' if args.no_busy_core else ', a busy core'} ...", flush=True)
            ready = wait_for(lambda: not nodes.alive("controller") or (
                "ready " in nodes.log("controller")
                and probe.command_pub.get_subscription_count() >= 1
                and probe.pose() is not None), args.ready_timeout, poll=0.2)
            if not ready or not nodes.alive("controller"):
                raise SystemExit(f"controller not ready:\n{nodes.log('controller')[-3000:]}")
            time.sleep(1.0)
            start_up = [line for line in nodes.log("controller").splitlines()
                        if "after start" in line]
            first, gaps, stops_moving, stops_generating = [], [], [], []
            for i in tqdm(range(args.trials), desc="commands", unit="cmd"):
                sent = time.monotonic()
                probe.command_pub.publish(String(data=MOVES[i % 2]))
                moved = probe.twist_after(sent, True, 30.0)
                if moved is None:
                    continue
                first.append(moved - sent)
                ended = probe.twist_after(moved, False, 30.0)
                if ended is not None:
                    gaps += moving_gaps(probe.twists, moved, ended)
                time.sleep(0.3)
            for i in tqdm(range(args.trials), desc="stops", unit="stop"):
                stops_moving.append(stop_after(probe, LONG_MOVES[i % 2], 0.1, True))
                if backend != "fixed":  # 20 ms: inside the model's prefill or first tokens
                    stops_generating.append(stop_after(probe, LONG_MOVES[i % 2], 0.02, False))
            alive = nodes.alive("controller")
            # The controller's own account of the moves timed above (its first answers).
            answers = re.findall(r"\]: model \((\d+) ms(?:: prompt \d+ tokens (\d+) ms, "
                                 r"\d+ more (\d+) ms)?", nodes.log("controller"))[:len(first)]

    print(f"controller start-up: {start_up[-1].split(']: ')[-1] if start_up else 'not logged'}")
    print(summary(f"command -> first Twist ({backend})", first,
                  "median < 150 ms with llama.cpp" if backend == "llama_cpp" else ""))
    if answers:  # from the controller's log: how much of it is the model's
        print(summary("  in the controller: command -> reply ready",
                      [int(a[0]) / 1000 for a in answers]))
        if answers[0][1]:
            print(summary("  in the controller: the model's prompt + tokens",
                          [(int(a[1]) + int(a[2])) / 1000 for a in answers]))
    print(summary("stop -> zero Twist during motion", stops_moving, "median < 5 ms, p90 < 20 ms"))
    if backend != "fixed":
        print(summary("stop -> zero Twist while the model generates", stops_generating,
                      "median < 5 ms, p90 < 20 ms"))
    print(summary("Twist gaps during motion", gaps, "max < 150 ms"))
    print(f"controller alive at the end: {alive}")


if __name__ == "__main__":
    main()

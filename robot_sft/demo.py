"""Demo: the trained model drives the simulated robot.

    python -m robot_sft.demo --adapter outputs/embedded
    python -m robot_sft.demo --model-backend fixed          # no model: a smoke run in seconds
    python -m robot_sft.demo --adapter outputs/embedded --commands "Turn left 30 degrees" "Stop"

Starts the simulator and the controller in this process (see
`robot_sft.sim.session`), sends each command on /command, waits until it is
answered and any motion is over, and prints the command, the /response, the
/cmd_vel segments the controller published (with what odometry measured) and the
final pose. Writes <out>/path.png and <out>/summary.json.

The `fixed` backend answers each demo command with its reference answer (the
target training would teach) and echoes any other command, so it exercises
everything but the language model.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from pathlib import Path

from robot_sft.inference.base import FixedResponseModel
from robot_sft.response_format import Move, Stop, Turn, render_response

MODEL_BACKENDS = ("auto", "llama_cpp", "transformers", "fixed")  # the node's model_backend


def demo_commands() -> list[tuple[str, str]]:
    """(command, reference answer): the tutorial's five, then a left turn, a move
    backward in centimetres and a stop."""
    from robot_sft.tutorial import SEED_EXAMPLES

    pairs = [(command, actions) for command, _, actions in SEED_EXAMPLES]
    pairs += [("Turn left 45 degrees", [Turn(45, "deg")]),
              ("Back up 50 centimeters", [Move(-50, "cm")]),
              ("Stop", [Stop()])]
    return [(command, render_response(actions)) for command, actions in pairs]


class ReferenceAnswers(FixedResponseModel):
    """A CommandModel without a model: the reference answer of a known command,
    else the command itself (so canonical commands such as "Move forward 1 m." work)."""

    def __init__(self, answers: dict[str, str]):
        super().__init__()  # the echo
        self.answers = answers

    @property
    def description(self) -> str:
        return "reference answers (fixed backend)"

    def respond(self, command: str, cancel=None) -> str:
        return self.answers.get(command) or super().respond(command, cancel)


def format_pose(pose) -> str:
    if pose is None:
        return "unknown"
    x, y, yaw = pose
    return f"x={x:.3f} m, y={y:.3f} m, yaw={math.degrees(yaw):.1f} deg"


def print_result(index: int, result, reference: str | None) -> None:
    print(f"\n[{index}] command : {result.command}")
    if reference is not None:
        print(f"    reference: {reference.replace(chr(10), ' | ')}")
    response = result.response if result.response is not None else "(no response: timed out)"
    print("    response: " + response.replace("\n", "\n              "))
    moving = [s for s in result.segments if s.linear_x or s.angular_z]
    if moving:
        for segment in moving:
            print(f"    executed: {segment.describe()}")
    else:
        print("    executed: no motion")
    print(f"    pose    : {format_pose(result.final_pose)}   ({result.elapsed:.2f} s"
          f"{', TIMED OUT' if result.timed_out else ''})")


def plot_path(results, room, places, out_path: Path, title: str) -> None:
    """Room, obstacles, named places and the odometry path of each command that moved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.add_patch(Rectangle((room.x_min, room.y_min), room.x_max - room.x_min,
                           room.y_max - room.y_min, fill=False, lw=2, color="black"))
    for o in room.obstacles:
        ax.add_patch(Circle((o.x, o.y), o.radius, color="grey"))
    for place in places.values():
        ax.plot(place.x, place.y, "*", ms=12, color="goldenrod")
        ax.annotate(place.name, (place.x, place.y), textcoords="offset points", xytext=(6, -12),
                    fontsize=8)
    moved = [(i, r) for i, r in enumerate(results, 1) if r.moved and r.start_pose is not None]
    for i, r in moved:
        xs = [r.start_pose[0]] + [p[0] for p in r.path]
        ys = [r.start_pose[1]] + [p[1] for p in r.path]
        ax.plot(xs, ys, lw=2, label=f"{i}. {r.command[:40]}")
        x, y, yaw = r.final_pose
        ax.arrow(x, y, 0.3 * math.cos(yaw), 0.3 * math.sin(yaw), head_width=0.12,
                 color=ax.lines[-1].get_color())
    if results and results[0].start_pose is not None:
        ax.plot(*results[0].start_pose[:2], "ko", ms=5, label="start")
    ax.set_aspect("equal")
    ax.set_xlabel("x [m] (odom)")
    ax.set_ylabel("y [m] (odom)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="outputs/embedded",
                        help="adapter directory written by training (transformers backend)")
    parser.add_argument("--model-backend", choices=MODEL_BACKENDS, default="auto",
                        help="the node's model_backend (auto: llama_cpp when installed); "
                             "'fixed': reference answers, no model (smoke run)")
    parser.add_argument("--base-model", default="", help="override the adapter's base model")
    parser.add_argument("--commands", nargs="+", metavar="TEXT",
                        help="commands to send (default: the tutorial's five and three more)")
    parser.add_argument("--out", default="outputs/demo", help="where path.png and summary.json go")
    parser.add_argument("--timeout", type=float, default=90.0,
                        help="seconds allowed per command (answer + motion)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: all cores but one, which the simulator "
                             "and the controller's motion loop need to keep time)")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS domain id (default: ROS_DOMAIN_ID); topics live under "
                             "/robot_sft_demo/ so a real robot's /cmd_vel is never touched")
    return parser.parse_args(argv)


def run_demo(args) -> dict:
    from robot_sft.sim.session import SimSession

    uses_model = args.model_backend != "fixed"
    if args.threads > 0 or uses_model:
        import torch

        from robot_sft.inference.base import usable_cores

        torch.set_num_threads(args.threads or max(1, usable_cores() - 1))
    references = dict(demo_commands())
    commands = args.commands or list(references)
    controller_params = {"model_backend": args.model_backend, "adapter": args.adapter,
                         "base_model": args.base_model, "device": "auto"}
    model = ReferenceAnswers(references) if args.model_backend == "fixed" else None
    started = time.monotonic()
    print(f"starting the simulator and the controller ({args.model_backend} backend"
          f"{', adapter ' + args.adapter if uses_model else ''}) ...",
          flush=True)
    with SimSession(controller_params=controller_params, model=model,
                    domain_id=args.domain_id, ready_timeout=60.0) as robot:
        if uses_model:
            robot.controller.model.respond("Report the battery level")  # warm-up: lazy inits
        # Freeze what loading created (torch, transformers: millions of objects), so no
        # full garbage collection stalls the motion loop for a second mid-move.
        gc.collect()
        gc.freeze()
        startup = time.monotonic() - started
        results = []
        for i, command in enumerate(commands, 1):
            result = robot.send(command, timeout=args.timeout)
            results.append(result)
            print_result(i, result, references.get(command))
        room, places = robot.sim.base.room, robot.controller.config.places
    total = time.monotonic() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_path(results, room, places, out / "path.png",
              f"robot_sft demo ({args.model_backend} backend): odometry path")
    summary = {
        "model_backend": args.model_backend,
        "adapter": args.adapter if uses_model else None,
        "startup_seconds": round(startup, 3),
        "total_seconds": round(total, 3),
        "commands": [{**{k: v for k, v in r.to_dict().items() if k != "path"},
                      "reference": references.get(r.command),
                      "path_points": len(r.path)} for r in results],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    answered = sum(r.response is not None for r in results)
    print(f"\n{answered}/{len(results)} commands answered, {sum(r.moved for r in results)} moved "
          f"the robot; start-up {startup:.1f} s, total {total:.1f} s")
    print(f"wrote {out / 'path.png'} and {out / 'summary.json'}")
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    from robot_sft.adapter import AdapterError
    from robot_sft.models import ModelLoadError

    try:
        summary = run_demo(args)
    except (AdapterError, ModelLoadError) as exc:
        print(f"demo: cannot load the model: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    timed_out = [c["command"] for c in summary["commands"] if c["timed_out"]]
    if timed_out:
        print(f"demo: no answer or motion not finished in time for {timed_out}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

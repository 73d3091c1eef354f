"""Any file of user commands through exactly the node's pipeline, scored by what the robot did.

    python -m training.evaluate --commands test/data/independent_commands.jsonl
    python -m training.evaluate --commands my_commands.txt --adapter outputs/embedded
    python -m training.evaluate --commands huric:/data/huric       # a clone of crux82/huric
    python -m training.evaluate --commands heldout:outputs/embedded # its held-out rows
    python -m training.evaluate --commands FILE --expected EXPECTED.jsonl --params my.yaml \
        -p constrained_decoding:=false -p min_confidence:=0.6

The controller's own parameters file (config/controller.yaml unless --params) and `-p
name:=value` overrides make a ControllerConfig (robot_sft.controller_config), which builds
the model (robot_sft.inference.loader: backend, quantisation, max_new_tokens, the grammar)
and the answer policy (limits, places, min_confidence). Each command goes through the
node's path: the stop detector first, then robot_sft.answer.answer_command (whole answer,
grounded, planned, confidence). So what is scored is what the robot would do.

Input: one command per line, or JSONL with "command" and optionally "expected" (action
dicts as robot_sft.response_format.action_to_dict writes them), "group" (paraphrases of
one meaning), "refusal" (the reason key when a refusal is due); --expected gives the
expectations as a JSONL file aligned by line instead. Output (--out): per command the
answer, its confidence, the executed plan (Twist segments or goal), the refusal reason
and, with expectations, whether it was right and what was unsafe (commands.jsonl);
summary.json and summary.md (training.outcomes.summarise) and a confidence curve
(confidence.png: accuracy and refusals as min_confidence rises).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from robot_sft.answer import AnswerPolicy, answer_command, model_failure_reply
from robot_sft.commands import is_stop_command, sanitise_command
from robot_sft.controller_config import make_config
from robot_sft.reply import build_reply
from robot_sft.response_format import Refuse, action_from_dict, render_response
from training.outcomes import REASON_KEYS, Scored, median_ms, outcome, summarise

DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "config" / "controller.yaml"
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class Command:
    text: str
    expected: tuple | None = None   # actions, or None when the file gives no expectation
    group: str | None = None
    goal_heads: tuple = ()          # HuRIC: a goal is right when its head word is named


# ------------------------------------------------------------------------------- input

def read_params(path, overrides: list[str]):
    """The node's ControllerConfig from a ROS params file (the `/**` or node section) and
    `name:=value` overrides (YAML values, as `ros2 run ... -p` takes them)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    values = {}
    for section in data.values():  # "/**" and "controller"
        if isinstance(section, dict):
            values.update(section.get("ros__parameters", {}))
    for item in overrides:
        name, sep, value = item.partition(":=")
        if not sep:
            raise SystemExit(f"-p takes name:=value, got {item!r}")
        values[name] = yaml.safe_load(value)
    try:
        return make_config(values)
    except ValueError as exc:
        raise SystemExit(f"invalid parameters: {exc}") from None


def read_commands(source: str, expected_file: str | None = None) -> list[Command]:
    """Commands (and expectations) from a text file, a JSONL file, huric:PATH, or
    heldout:ADAPTER (the held-out rows that adapter's training run drew, regenerated from
    the config it recorded)."""
    if source.startswith("huric:"):
        from training.huric import load_huric

        return [Command(c.command, c.expected, None, c.goal_heads)
                for c in load_huric(source.split(":", 1)[1])]
    if source.startswith("heldout:"):
        from robot_sft.adapter import read_metadata
        from training.datasets import heldout_items

        adapter = source.split(":", 1)[1]
        metadata = read_metadata(adapter, weights=False)
        return [Command(item.command, tuple(item.expected))
                for item in heldout_items(metadata.config, adapter, metadata.data_sha256)]
    lines = [line for line in Path(source).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    rows = [json.loads(line) if line.lstrip().startswith("{") else {"command": line}
            for line in lines]
    if expected_file is not None:
        from training.datasets import numbered_jsonl

        extra = [row for _, row in numbered_jsonl(expected_file)]
        if len(extra) != len(rows):
            raise SystemExit(f"{expected_file} has {len(extra)} rows for {len(rows)} commands")
        rows = [{**row, **more} for row, more in zip(rows, extra)]
    return [Command(row["command"],
                    tuple(action_from_dict(a) for a in row["expected"])
                    if row.get("expected") is not None else None,
                    row.get("group")) for row in rows]


# ------------------------------------------------------------------------------- running

@dataclass
class Result:
    command: Command
    answer: str
    confidence: float
    seconds: float
    actual: tuple


def run_commands(model, commands: list[Command], config, policy: AnswerPolicy,
                 progress: bool = True) -> list[Result]:
    """Each command through the node's path: sanitised, the stop detector, the model's
    whole answer, grounded and planned."""
    from tqdm import tqdm

    results, failures = [], []
    for command in tqdm(commands, desc="commands", unit="cmd", disable=not progress):
        text = sanitise_command(command.text, config.max_command_chars)
        if is_stop_command(text):  # served before the model, as in the node
            answer, confidence, seconds = "Stop.", 1.0, 0.0
            reply = build_reply(answer, policy.limits, policy.places, "", "")
        else:
            started = time.perf_counter()
            try:
                done = answer_command(model, text, policy)
            except Exception as exc:  # as the node: the robot says so and stands still
                failures.append(f"{command.text!r}: {type(exc).__name__}: {exc}")
                answer, confidence, reply = "", 0.0, model_failure_reply(exc)
                seconds = time.perf_counter() - started
            else:
                answer, confidence, seconds, reply = (done.text, done.confidence, done.seconds,
                                                      done.reply)
        results.append(Result(command, answer, confidence, seconds, outcome(reply, answer)))
    if failures:  # scored as the refusals they are on the robot, but never silently
        print(f"the model failed on {len(failures)} of {len(commands)} commands (scored as "
              f"the robot's refusals; first: {failures[0]})", file=sys.stderr)
    return results


def expected_outcome(command: Command, policy: AnswerPolicy) -> tuple:
    """The outcome of the expected actions through the same planner and places."""
    text = render_response(command.expected)
    return outcome(build_reply(text, policy.limits, policy.places, "", ""), text)


def _refusal_key(command: Command) -> str | None:
    refusals = [a for a in command.expected if isinstance(a, Refuse)]
    return REASON_KEYS.get(refusals[0].reason, "unclear") if refusals else None


def _huric_goal(expected: tuple, actual: tuple, heads: tuple) -> tuple:
    """HuRIC goals are scored by their head word: a navigation to a place that names it
    counts as the expected outcome."""
    if expected[0] in ("goal", "unknown place") and actual[0] in ("goal", "unknown place") \
            and heads and any(h in actual[1].split() for h in heads):
        return actual
    return expected


def score(results: list[Result], policy: AnswerPolicy,
          min_confidence: float | None = None) -> list[Scored | None]:
    """A training.outcomes.Scored per result (None where no expectation was given),
    re-deciding at `min_confidence` when given."""
    rows = []
    for r in results:
        if r.command.expected is None:
            rows.append(None)
            continue
        actual = r.actual
        if min_confidence is not None and r.confidence < min_confidence \
                and actual[0] in ("move", "goal"):
            actual = ("refuse", "unsure")  # what decide() does below the threshold
        expected = _huric_goal(expected_outcome(r.command, policy), actual, r.command.goal_heads)
        rows.append(Scored(r.command.text, r.command.group, expected, actual, r.answer, "",
                           _refusal_key(r.command)))
    return rows


def confidence_curve(results: list[Result], policy: AnswerPolicy) -> list[dict]:
    """Accuracy, refusals and unsafe outcomes as min_confidence rises (calibration)."""
    curve = []
    for threshold in THRESHOLDS:
        rows = [s for s in score(results, policy, threshold) if s is not None]
        if not rows:
            return []
        summary = summarise(rows)
        refused = sum(r.actual[0] == "refuse" for r in rows)
        curve.append({"min_confidence": threshold, "correct": summary["correct"],
                      "refused": round(100.0 * refused / len(rows), 1),
                      "unsafe": summary["unsafe"]})
    return curve


# ------------------------------------------------------------------------------- reports

def write_reports(out: Path, results: list[Result], policy: AnswerPolicy, meta: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    scored = score(results, policy)
    with open(out / "commands.jsonl", "w", encoding="utf-8") as f:
        for r, s in zip(results, scored):
            f.write(json.dumps({
                "command": r.command.text, "group": r.command.group, "answer": r.answer,
                "confidence": round(r.confidence, 4), "seconds": round(r.seconds, 3),
                "executed": r.actual,
                **({"expected": s.expected, "correct": s.correct, "unsafe": s.unsafe}
                   if s is not None else {})}) + "\n")
    rows = [s for s in scored if s is not None]
    summary = {**meta, "median_ms": median_ms([r.seconds for r in results if r.seconds])}
    if rows:
        summary.update(summarise(rows))
        summary["confidence_curve"] = confidence_curve(results, policy)
        plot_curve(summary["confidence_curve"], out / "confidence.png", meta.get("source", ""))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(summary_markdown(summary))
    return summary


def summary_markdown(summary: dict) -> str:
    lines = [f"# {summary.get('source', 'commands')}", ""]
    keys = ("commands", "correct", "unsafe", "unsafe_by_kind", "refusal_precision",
            "refusal_recall", "groups", "groups_consistent", "groups_consistent_and_right",
            "by_expected", "outcomes", "median_ms")
    lines += [f"- {k}: {summary[k]}" for k in keys if k in summary]
    if summary.get("confidence_curve"):
        lines += ["", "| min_confidence | correct % | refused % | unsafe |", "|---|---|---|---|"]
        lines += [f"| {c['min_confidence']} | {c['correct']} | {c['refused']} | {c['unsafe']} |"
                  for c in summary["confidence_curve"]]
    return "\n".join(lines) + "\n"


def plot_curve(curve: list[dict], path: Path, title: str) -> None:
    if not curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [c["min_confidence"] for c in curve]
    ax.plot(xs, [c["correct"] for c in curve], marker="o", label="correct %")
    ax.plot(xs, [c["refused"] for c in curve], marker="s", label="refused %")
    ax.set_xlabel("min_confidence")
    ax.set_ylabel("% of commands")
    ax.set_title(f"Accuracy and refusals vs min_confidence\n{title}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------- entry

def evaluate_commands(source: str, expected: str | None, params: str, overrides: list[str],
                      out: str, adapter: str | None = None, ground: bool = True,
                      limit: int = 0) -> dict:
    """Load the node's model from its parameters, run every command, write the reports."""
    from robot_sft.inference.loader import ModelSpec, load_command_model

    config = read_params(params, ([f"adapter:={adapter}"] if adapter else []) + overrides)
    policy = replace(AnswerPolicy.from_config(config), ground=ground)
    commands = read_commands(source, expected)
    if limit:
        commands = commands[:limit]
    started = time.perf_counter()
    model = load_command_model(ModelSpec.from_config(config), log=print)
    load_s = time.perf_counter() - started
    results = run_commands(model, commands, config, policy)
    meta = {"source": source, "adapter": str(config.adapter), "backend": model.description,
            "constrained_decoding": config.constrained_decoding,
            "min_confidence": config.min_confidence, "grounding": ground,
            "max_new_tokens": config.max_new_tokens, "places": sorted(config.places),
            "load_seconds": round(load_s, 2)}
    summary = write_reports(Path(out), results, policy, meta)
    print(summary_markdown(summary))
    return summary




def main(argv=None) -> int:
    import argparse

    from robot_sft.adapter import AdapterError

    p = argparse.ArgumentParser(prog="python -m training.evaluate --commands",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--commands", required=True,
                   help="a text file (one command per line), a JSONL file, huric:PATH, or "
                        "heldout:ADAPTER (the held-out rows its training run drew)")
    p.add_argument("--expected", help="JSONL expectations aligned with the commands by line")
    p.add_argument("--params", default=str(DEFAULT_PARAMS),
                   help="the controller's parameters file (default: config/controller.yaml)")
    p.add_argument("-p", dest="overrides", action="append", default=[], metavar="NAME:=VALUE",
                   help="override one controller parameter, as ros2 run's -p")
    p.add_argument("--adapter", help="shorthand for -p adapter:=DIR")
    p.add_argument("--no-grounding", action="store_true",
                   help="do not ground answers in their commands (to measure what it buys)")
    p.add_argument("--limit", type=int, default=0, help="the first N commands only")
    p.add_argument("--out", default="outputs/eval_commands", help="directory for the reports")
    args = p.parse_args(argv)
    try:
        evaluate_commands(args.commands, args.expected, args.params, args.overrides, args.out,
                          args.adapter, ground=not args.no_grounding, limit=args.limit)
    except (OSError, ValueError, AdapterError) as exc:  # a missing or malformed input: one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

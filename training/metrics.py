"""Scoring model answers against reference actions (pure: no torch).

Three numbers, from lenient to strict:

  parse_rate        the answer parses (robot_sft.response_format.parse_response)
  intent_accuracy   the parsed answer has the reference's intent (move, turn, stop, ...)
  exact_accuracy    the parsed action list equals the reference (numbers within
                    robot_sft.response_format.actions_equal's tolerance), both with
                    shapes expanded: "Square with 1 m sides, turning left." equals the
                    eight Move/Turn lines it stands for

plus the same per intent, so a regression on, say, timed moves is visible even
when the total looks fine.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from robot_sft.response_format import (ParseError, action_from_dict, actions_equal,
                                       expand_actions, intent_of, parse_response)


@dataclass(frozen=True)
class Scored:
    """One answer, judged."""

    label: str           # the reference's intent (the row's "intent" if it has one)
    parsed: bool
    intent_ok: bool
    exact: bool


def reference_actions(row: dict):
    """The actions a row expects: its "actions" dicts if present (generated data),
    else the parse of its last assistant message (any conversations file).
    A reference that does not parse comes back as a ParseError."""
    if row.get("actions"):
        return [action_from_dict(a) for a in row["actions"]]
    answers = [m["content"] for m in row.get("messages", []) if m.get("role") == "assistant"]
    if not answers:
        return ParseError("row has no assistant message")
    return parse_response(answers[-1])


def score_one(expected, text: str, label: str | None = None) -> Scored:
    actual = parse_response(text)
    parsed = not isinstance(actual, ParseError)
    return Scored(label=label or intent_of(expected), parsed=parsed,
                  intent_ok=parsed and intent_of(actual) == intent_of(expected),
                  exact=parsed and actions_equal(expand_actions(expected),
                                                 expand_actions(actual)))


def _rates(items: list[Scored]) -> dict:
    n = len(items)
    return {"n": n,
            "parse_rate": sum(s.parsed for s in items) / n if n else 0.0,
            "intent_accuracy": sum(s.intent_ok for s in items) / n if n else 0.0,
            "exact_accuracy": sum(s.exact for s in items) / n if n else 0.0}


def summarize(scored: list[Scored]) -> dict:
    """Totals and a per-intent breakdown, JSON-ready."""
    by_label: dict[str, list[Scored]] = defaultdict(list)
    for item in scored:
        by_label[item.label].append(item)
    return {**_rates(scored), "per_intent": {label: _rates(items)
                                             for label, items in sorted(by_label.items())}}


def score_responses(expected: list, texts: list[str], labels: list[str] | None = None) -> dict:
    """Score `texts` against `expected` action lists (same order)."""
    if len(expected) != len(texts):
        raise ValueError(f"{len(expected)} references but {len(texts)} answers")
    labels = labels or [None] * len(texts)
    return summarize([score_one(e, t, l) for e, t, l in zip(expected, texts, labels)])


def format_metrics(metrics: dict) -> str:
    """A short human-readable table for the end of training."""
    lines = [f"held-out ({metrics['n']} rows): parse {metrics['parse_rate']:.1%}  "
             f"intent {metrics['intent_accuracy']:.1%}  exact {metrics['exact_accuracy']:.1%}"]
    for label, m in metrics.get("per_intent", {}).items():
        lines.append(f"  {label:<18} n={m['n']:<4} parse {m['parse_rate']:.0%}  "
                     f"intent {m['intent_accuracy']:.0%}  exact {m['exact_accuracy']:.0%}")
    return "\n".join(lines)

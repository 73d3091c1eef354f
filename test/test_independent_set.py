"""Checks the evaluation sets written apart from the generator: the independent set
(test/data/independent_commands.jsonl, test/data/INDEPENDENT_SET.md) and the two outside
sets (outside_a/b_commands.jsonl, test/data/OUTSIDE_SETS.md).

These tests only check that each is well formed and consistent with the action schema and
the safety limits: no ROS, no torch.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import pytest

from robot_sft.response_format import (
    REFUSAL_REASONS, Refuse, action_from_dict, action_to_dict, intent_of,
)
from robot_sft.safety import PlanError, SafetyLimits, plan_twists
from training.datasets import numbered_jsonl

DATA_DIR = Path(__file__).parent / "data"
STYLES = {"terse", "spoken", "formal", "long-winded", "non-native"}
INTENTS = {"move", "turn", "timed", "sequence", "stop", "navigate", "status_battery",
           "status_obstacles", "refuse"}
REQUIRED = {"group", "style", "command", "expected", "intent"}
OPTIONAL = {"over_limits", "refusal"}
GROUP_SIZE = 5


@dataclass(frozen=True)
class EvalSet:
    file: str
    styles: frozenset    # each group: five of these, all different
    min_rows: int
    over_limits: bool     # has commands whose copied speed the planner refuses


SETS = {
    "independent": EvalSet("independent_commands.jsonl", frozenset(STYLES), 600, True),
    # written by two writers who read only the policy pages (session 11)
    "outside_a": EvalSet("outside_a_commands.jsonl", frozenset(STYLES | {"llm"}), 250, False),
    "outside_b": EvalSet("outside_b_commands.jsonl", frozenset(STYLES | {"llm"}), 250, False),
}
ROWS_OF = {name: [{**row, "_line": number} for number, row in numbered_jsonl(DATA_DIR / s.file)]
           for name, s in SETS.items()}


@pytest.fixture(params=sorted(SETS))
def name(request):
    return request.param


def _groups(rows):
    groups = collections.defaultdict(list)
    for row in rows:
        groups[row["group"]].append(row)
    return groups


def _actions(row):
    return [action_from_dict(d) for d in row["expected"]]


def test_every_line_has_the_required_fields(name):
    for row in ROWS_OF[name]:
        keys = set(row) - {"_line"}
        assert REQUIRED <= keys, f"line {row['_line']} lacks {REQUIRED - keys}"
        assert keys <= REQUIRED | OPTIONAL, f"line {row['_line']} has unknown {keys - REQUIRED - OPTIONAL}"
        assert isinstance(row["group"], str) and row["group"], row["_line"]
        assert row["style"] in SETS[name].styles, f"line {row['_line']}: style {row['style']!r}"
        assert isinstance(row["command"], str) and row["command"].strip(), row["_line"]
        assert row["command"] == row["command"].strip(), f"line {row['_line']}: stray spaces"
        assert isinstance(row["expected"], list) and row["expected"], row["_line"]
        assert row["intent"] in INTENTS, f"line {row['_line']}: intent {row['intent']!r}"
        if "over_limits" in row:
            assert row["over_limits"] is True, row["_line"]


def test_expected_actions_build_and_round_trip(name):
    for row in ROWS_OF[name]:
        actions = _actions(row)
        assert [action_to_dict(a) for a in actions] == row["expected"], \
            f"line {row['_line']}: expected is not in action_to_dict form"


def test_intent_matches_the_actions(name):
    for row in ROWS_OF[name]:
        assert intent_of(_actions(row)) == row["intent"], \
            f"line {row['_line']}: intent {row['intent']!r} != {intent_of(_actions(row))!r}"


def test_refusals_name_a_known_reason(name):
    for row in ROWS_OF[name]:
        actions = _actions(row)
        refusal = row.get("refusal")
        if row["intent"] == "refuse":
            assert refusal in REFUSAL_REASONS, f"line {row['_line']}: refusal {refusal!r}"
            assert actions == [Refuse(REFUSAL_REASONS[refusal])], \
                f"line {row['_line']}: a refusal is exactly one Refuse with the key's reason"
        else:
            assert refusal is None, f"line {row['_line']}: refusal key on a non-refusal"


def test_groups_are_five_paraphrases_with_one_meaning(name):
    for group, rows in _groups(ROWS_OF[name]).items():
        assert len(rows) == GROUP_SIZE, f"group {group} has {len(rows)} lines"
        styles = {r["style"] for r in rows}
        assert len(styles) == GROUP_SIZE and styles <= SETS[name].styles, \
            f"group {group} styles {[r['style'] for r in rows]}"
        first = rows[0]
        for row in rows[1:]:
            for key in ("expected", "intent", "refusal", "over_limits"):
                assert row.get(key) == first.get(key), \
                    f"group {group}: line {row['_line']} differs in {key}"


def test_size(name):
    assert len(ROWS_OF[name]) >= SETS[name].min_rows
    assert len(_groups(ROWS_OF[name])) * GROUP_SIZE == len(ROWS_OF[name])


def test_every_intent_and_refusal_reason_is_covered(name):
    rows = ROWS_OF[name]
    assert {r["intent"] for r in rows} == INTENTS
    assert {r["refusal"] for r in rows if "refusal" in r} == set(REFUSAL_REASONS)
    assert any(r.get("over_limits") for r in rows) == SETS[name].over_limits


def test_no_command_twice(name):
    counts = collections.Counter(r["command"] for r in ROWS_OF[name])
    assert [c for c, n in counts.items() if n > 1] == []
    folded = collections.Counter(" ".join(r["command"].lower().split()) for r in ROWS_OF[name])
    assert [c for c, n in folded.items() if n > 1] == []


def test_over_limit_lines_exceed_the_default_limits(name):
    limits = SafetyLimits()
    for row in ROWS_OF[name]:
        if row.get("over_limits"):
            assert isinstance(plan_twists(_actions(row), limits), PlanError), \
                f"line {row['_line']} is marked over_limits but plans within the limits"


def test_other_lines_plan_within_the_default_limits(name):
    limits = SafetyLimits()
    for row in ROWS_OF[name]:
        if row.get("over_limits") or row["intent"] == "refuse":
            continue
        plan = plan_twists(_actions(row), limits)
        assert not isinstance(plan, PlanError), f"line {row['_line']}: {plan.reason}"


@pytest.mark.parametrize("intent", ["move", "turn", "timed", "sequence"])
def test_motion_intents_move_the_base(name, intent):
    for row in ROWS_OF[name]:
        if row["intent"] == intent and not row.get("over_limits"):
            plan = plan_twists(_actions(row))
            assert plan and any(not s.is_stop for s in plan), f"line {row['_line']}"

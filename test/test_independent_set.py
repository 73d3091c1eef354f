"""Checks the independent evaluation set (test/data/independent_commands.jsonl).

The set was written by hand, apart from the training-data generator (see
test/data/INDEPENDENT_SET.md). These tests only check that it is well formed and
consistent with the action schema and the safety limits: no ROS, no torch.
"""
from __future__ import annotations

import collections
from pathlib import Path

import pytest

from robot_sft.response_format import (
    REFUSAL_REASONS, Refuse, action_from_dict, action_to_dict, intent_of,
)
from robot_sft.safety import PlanError, SafetyLimits, plan_twists
from training.datasets import numbered_jsonl

DATA = Path(__file__).parent / "data" / "independent_commands.jsonl"

STYLES = {"terse", "spoken", "formal", "long-winded", "non-native"}
INTENTS = {"move", "turn", "timed", "sequence", "stop", "navigate", "status_battery",
           "status_obstacles", "refuse"}
REQUIRED = {"group", "style", "command", "expected", "intent"}
OPTIONAL = {"over_limits", "refusal"}
GROUP_SIZE = 5


def _load():
    return [{**row, "_line": number} for number, row in numbered_jsonl(DATA)]


ROWS = _load()


def _groups():
    groups = collections.defaultdict(list)
    for row in ROWS:
        groups[row["group"]].append(row)
    return groups


def _actions(row):
    return [action_from_dict(d) for d in row["expected"]]


def test_every_line_has_the_required_fields():
    for row in ROWS:
        keys = set(row) - {"_line"}
        assert REQUIRED <= keys, f"line {row['_line']} lacks {REQUIRED - keys}"
        assert keys <= REQUIRED | OPTIONAL, f"line {row['_line']} has unknown {keys - REQUIRED - OPTIONAL}"
        assert isinstance(row["group"], str) and row["group"], row["_line"]
        assert row["style"] in STYLES, f"line {row['_line']}: style {row['style']!r}"
        assert isinstance(row["command"], str) and row["command"].strip(), row["_line"]
        assert row["command"] == row["command"].strip(), f"line {row['_line']}: stray spaces"
        assert isinstance(row["expected"], list) and row["expected"], row["_line"]
        assert row["intent"] in INTENTS, f"line {row['_line']}: intent {row['intent']!r}"
        if "over_limits" in row:
            assert row["over_limits"] is True, row["_line"]


def test_expected_actions_build_and_round_trip():
    for row in ROWS:
        actions = _actions(row)
        assert [action_to_dict(a) for a in actions] == row["expected"], \
            f"line {row['_line']}: expected is not in action_to_dict form"


def test_intent_matches_the_actions():
    for row in ROWS:
        assert intent_of(_actions(row)) == row["intent"], \
            f"line {row['_line']}: intent {row['intent']!r} != {intent_of(_actions(row))!r}"


def test_refusals_name_a_known_reason():
    for row in ROWS:
        actions = _actions(row)
        refusal = row.get("refusal")
        if row["intent"] == "refuse":
            assert refusal in REFUSAL_REASONS, f"line {row['_line']}: refusal {refusal!r}"
            assert actions == [Refuse(REFUSAL_REASONS[refusal])], \
                f"line {row['_line']}: a refusal is exactly one Refuse with the key's reason"
        else:
            assert refusal is None, f"line {row['_line']}: refusal key on a non-refusal"


def test_groups_are_five_paraphrases_with_one_meaning():
    for name, rows in _groups().items():
        assert len(rows) == GROUP_SIZE, f"group {name} has {len(rows)} lines"
        assert {r["style"] for r in rows} == STYLES, f"group {name} styles {[r['style'] for r in rows]}"
        first = rows[0]
        for row in rows[1:]:
            for key in ("expected", "intent", "refusal", "over_limits"):
                assert row.get(key) == first.get(key), \
                    f"group {name}: line {row['_line']} differs in {key}"


def test_size():
    assert len(ROWS) >= 600
    assert len(_groups()) >= 120


def test_every_intent_and_refusal_reason_is_covered():
    assert {r["intent"] for r in ROWS} == INTENTS
    assert {r["refusal"] for r in ROWS if "refusal" in r} == set(REFUSAL_REASONS)
    assert any(r.get("over_limits") for r in ROWS)


def test_no_command_twice():
    counts = collections.Counter(r["command"] for r in ROWS)
    assert [c for c, n in counts.items() if n > 1] == []
    folded = collections.Counter(" ".join(r["command"].lower().split()) for r in ROWS)
    assert [c for c, n in folded.items() if n > 1] == []


def test_over_limit_lines_exceed_the_default_limits():
    limits = SafetyLimits()
    for row in ROWS:
        if row.get("over_limits"):
            assert isinstance(plan_twists(_actions(row), limits), PlanError), \
                f"line {row['_line']} is marked over_limits but plans within the limits"


def test_other_lines_plan_within_the_default_limits():
    limits = SafetyLimits()
    for row in ROWS:
        if row.get("over_limits") or row["intent"] == "refuse":
            continue
        plan = plan_twists(_actions(row), limits)
        assert not isinstance(plan, PlanError), f"line {row['_line']}: {plan.reason}"


@pytest.mark.parametrize("intent", ["move", "turn", "timed", "sequence"])
def test_motion_intents_move_the_base(intent):
    for row in ROWS:
        if row["intent"] == intent and not row.get("over_limits"):
            plan = plan_twists(_actions(row))
            assert plan and any(not s.is_stop for s in plan), f"line {row['_line']}"

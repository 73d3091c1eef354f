"""The hand-written command set (test/data/handwritten_commands.jsonl): commands typed the way
people really talk to a robot, with the response the model should give. It is evaluation data,
never training data, so these tests guard its consistency with the response format and the
safety planner rather than any model."""
import json
from collections import Counter
from pathlib import Path

import pytest

from robot_sft.response_format import (
    REFUSAL_REASONS, Refuse, action_from_dict, action_to_dict, intent_of, parse_response,
    render_response,
)
from robot_sft.safety import PlanError, SafetyLimits, plan_twists

PATH = Path(__file__).parent / "data" / "handwritten_commands.jsonl"
INTENTS = ("move", "turn", "timed", "sequence", "stop", "navigate", "status_battery",
           "status_obstacles", "refuse")
FIELDS = {"command", "expected", "intent", "notes", "over_limits"}


def load_rows():
    with PATH.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


ROWS = load_rows()


def row_id(row):
    return row["command"][:40]


def test_set_is_large_and_covers_every_intent():
    assert len(ROWS) >= 150
    counts = Counter(row["intent"] for row in ROWS)
    assert set(counts) == set(INTENTS), counts
    refusal_kinds = {row["expected"][0]["reason"] for row in ROWS if row["intent"] == "refuse"}
    assert refusal_kinds == set(REFUSAL_REASONS.values())


def test_no_duplicate_commands():
    commands = Counter(" ".join(row["command"].lower().split()) for row in ROWS)
    assert [c for c, n in commands.items() if n > 1] == []


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_row_is_consistent(row):
    assert set(row) <= FIELDS and {"command", "expected", "intent"} <= set(row)
    assert row["command"].strip()
    actions = [action_from_dict(d) for d in row["expected"]]
    assert [action_to_dict(a) for a in actions] == row["expected"]  # stored in canonical form
    assert intent_of(actions) == row["intent"]
    assert parse_response(render_response(actions)) == actions
    for action in actions:
        if isinstance(action, Refuse):
            assert action.reason in REFUSAL_REASONS.values()


@pytest.mark.parametrize("row", [r for r in ROWS if r["intent"] != "refuse"], ids=row_id)
def test_non_refusals_plan_unless_marked_over_limits(row):
    """Rows marked over_limits copy what the user said and rely on the planner to refuse:
    the model cannot know the node's runtime limits."""
    plan = plan_twists([action_from_dict(d) for d in row["expected"]], SafetyLimits())
    if row.get("over_limits"):
        assert isinstance(plan, PlanError)
    else:
        assert not isinstance(plan, PlanError), plan


def test_no_handwritten_command_is_a_fixed_training_example():
    """The tutorial's five are always trained on; the evaluation set must not contain them."""
    from training.data.generate import SEED_EXAMPLES, normalise_command

    seeds = {normalise_command(command) for command, _, _ in SEED_EXAMPLES}
    assert not seeds & {normalise_command(row["command"]) for row in ROWS}

"""Scoring answers: parse rate <= intent accuracy <= exact accuracy ordering, tolerance, per intent."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot_sft.response_format import (Move, Navigate, Refuse, Shape, Status, Stop, TimedMove,
                                       Turn, action_to_dict, render_response)
from training.metrics import format_metrics, reference_actions, score_one, score_responses

FORWARD_2M = [Move(2, "m")]
SQUARE = [Move(1, "m"), Turn(90, "deg")] * 4
SQUARE_LINES = "\n".join(["Move forward 1 m.\nTurn left 90 deg."] * 4)


@pytest.mark.parametrize("expected, answer, parsed, intent_ok, exact", [
    (FORWARD_2M, "Move forward 2 m.", True, True, True),
    ([Move(2.0, "m")], "Move forward 2.01 m.", True, True, True),  # within actions_equal's 1 %
    (FORWARD_2M, "Move forward 2.5 m.", True, True, False),      # wrong number
    (FORWARD_2M, "Move backward 2 m.", True, True, False),       # wrong sign
    (FORWARD_2M, "Move forward 2 ft.", True, True, False),       # wrong unit
    (FORWARD_2M, "Turn left 2 deg.", True, False, False),        # wrong intent
    (FORWARD_2M, "Sure! I will move.", False, False, False),     # not the format
    (FORWARD_2M, "", False, False, False),
    ([Move(1, "m"), Turn(90, "deg")], "Move forward 1 m.\nTurn left 90 deg.", True, True, True),
    ([Move(1, "m"), Turn(90, "deg")], "Turn left 90 deg.\nMove forward 1 m.", True, True, False),
    ([Move(1, "m"), Turn(90, "deg")], "Move forward 1 m.", True, False, False),  # sequence -> move
    ([Stop()], "Stop.", True, True, True),
    # a shape scores as the moves and turns it stands for, whichever way either side writes it
    (SQUARE, "Square with 1 m sides, turning left.", True, True, True),
    ([Shape("square", 1)], SQUARE_LINES, True, True, True),
    ([Shape("square", 1)], "Square with 1 m sides, turning left.", True, True, True),
    (SQUARE, "Square with 1 m sides, turning right.", True, True, False),   # wrong direction
    (SQUARE, "Triangle with 1 m sides, turning left.", True, True, False),  # wrong shape
    (SQUARE, "Square with 1 m sides, turning left.\nStop.", True, True, False),
    ([Shape("square", 1), Stop()], SQUARE_LINES + "\nStop.", True, True, True),
    ([Shape("square", 1)], "Move forward 1 m.", True, False, False),  # sequence -> move
    ([Refuse("that speed exceeds the safety limits")],
     "Cannot comply: that speed exceeds the safety limits.", True, True, True),
    ([Refuse("that speed exceeds the safety limits")],
     "Cannot comply: only English commands are supported.", True, True, False),  # other reason
])
def test_score_one(expected, answer, parsed, intent_ok, exact):
    scored = score_one(expected, answer)
    assert (scored.parsed, scored.intent_ok, scored.exact) == (parsed, intent_ok, exact)


def test_handwritten_shapes_score_exact_as_one_shape_line():
    """The hand-written set writes its three shapes out as moves and turns."""
    import json
    from pathlib import Path

    path = Path(__file__).parent / "data" / "handwritten_commands.jsonl"
    rows = {r["command"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())
            if r}
    for command, answer in [
        ("drive a 1 meter square", "Square with 1 m sides, turning left."),
        ("make a square with 50 cm sides turning right", "Square with 50 cm sides, turning right."),
        ("drive a triangle with 1 m sides", "Triangle with 1 m sides, turning left."),
    ]:
        expected = reference_actions({"actions": rows[command]["expected"]})
        scored = score_one(expected, answer, rows[command]["intent"])
        assert (scored.parsed, scored.intent_ok, scored.exact) == (True, True, True), command


def test_totals_and_per_intent_breakdown():
    expected = [FORWARD_2M, FORWARD_2M, [Stop()], [Navigate("kitchen")]]
    answers = ["Move forward 2 m.", "Move forward 3 m.", "Stop.", "gibberish"]
    metrics = score_responses(expected, answers, ["move", "move", "stop", None])
    assert (metrics["n"], metrics["parse_rate"], metrics["intent_accuracy"],
            metrics["exact_accuracy"]) == (4, 0.75, 0.75, 0.5)
    assert metrics["per_intent"]["move"] == {"n": 2, "parse_rate": 1.0, "intent_accuracy": 1.0,
                                             "exact_accuracy": 0.5}
    assert metrics["per_intent"]["navigate"]["exact_accuracy"] == 0.0  # label from the reference
    assert "exact 50.0%" in format_metrics(metrics)


def test_counts_must_match():
    with pytest.raises(ValueError, match="2 references but 1 answers"):
        score_responses([FORWARD_2M, FORWARD_2M], ["Move forward 2 m."])


def test_empty_input_scores_zero():
    assert score_responses([], [])["n"] == 0


def test_reference_from_actions_or_from_the_assistant_message():
    actions = [Move(-0.3, "m"), Turn(-90, "deg")]
    generated = {"actions": [action_to_dict(a) for a in actions], "messages": []}
    from_file = {"messages": [{"role": "user", "content": "back up 30 cm then turn right"},
                              {"role": "assistant", "content": render_response(actions)}]}
    assert reference_actions(generated) == actions
    assert reference_actions(from_file) == actions
    assert not reference_actions({"messages": [{"role": "user", "content": "hi"}]})


numbers = st.integers(min_value=1, max_value=500).map(lambda n: n / 10)
actions = st.one_of(
    st.builds(Move, numbers, st.sampled_from(["m", "cm", "ft"])),
    st.builds(lambda a, u: Turn(-a, u), numbers, st.sampled_from(["deg", "rad"])),
    st.builds(TimedMove, numbers, st.sampled_from(["forward", "left"])),
    st.just(Stop()), st.just(Status("battery")),
    st.builds(Navigate, st.sampled_from(["kitchen", "charging station", "dock 2"])),
    st.builds(Shape, st.sampled_from(["triangle", "square"]), numbers),
)


@given(st.lists(st.lists(actions, min_size=1, max_size=3), min_size=1, max_size=6))
def test_rendered_references_score_perfectly(references):
    metrics = score_responses(references, [render_response(r) for r in references])
    assert metrics["parse_rate"] == metrics["intent_accuracy"] == metrics["exact_accuracy"] == 1.0


@given(st.lists(st.tuples(st.lists(actions, min_size=1, max_size=3), st.text(max_size=40)),
                min_size=1, max_size=6))
def test_stricter_scores_never_exceed_lenient_ones(pairs):
    metrics = score_responses([r for r, _ in pairs], [t for _, t in pairs])
    assert metrics["exact_accuracy"] <= metrics["intent_accuracy"] <= metrics["parse_rate"] <= 1.0

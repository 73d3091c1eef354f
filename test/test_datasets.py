"""training/datasets.py: the evaluation sets as scorable items (pure: no torch, no model)."""
from __future__ import annotations

from collections import Counter

from robot_sft.response_format import intent_of
from training.datasets import (HANDWRITTEN, INDEPENDENT, load_handwritten, load_independent,
                               sample_rows)


def test_the_independent_set_loads_as_650_items_in_130_groups_of_5_styles():
    items = load_independent()
    assert INDEPENDENT.name == "independent_commands.jsonl" and len(items) == 650
    assert Counter(Counter(item.group for item in items).values()) == {5: 130}
    assert {item.style for item in items} == {"terse", "spoken", "formal", "long-winded", "non-native"}
    assert all(intent_of(item.expected) == item.label for item in items)
    assert sum(item.over_limits for item in items) == 10  # 2 over-limit groups x 5 styles


def test_the_hand_written_set_loads_with_its_intents():
    items = load_handwritten(HANDWRITTEN)
    assert len(items) >= 150 and all(item.command and item.expected for item in items)
    assert {item.group for item in items} == {""}


def test_evaluate_offers_the_independent_set_on_request(tmp_path):
    from training.evaluate import SETS, Options, load_sets

    assert "independent" not in SETS  # the default sets are unchanged
    sets = load_sets(Options(adapter=str(tmp_path), sets=("independent",), limit=7), metadata=None)
    assert list(sets) == ["independent"] and len(sets["independent"]) == 7


def test_sampling_is_reproducible():
    rows = list(range(100))
    assert sample_rows(rows, 10, 3) == sample_rows(rows, 10, 3) != sample_rows(rows, 10, 4)
    assert sample_rows(rows, 0, 3) == rows

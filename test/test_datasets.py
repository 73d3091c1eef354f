"""training/datasets.py: the evaluation sets as scorable items (pure: no torch, no model)."""
from __future__ import annotations

from collections import Counter

import pytest

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


def test_an_adapters_held_out_rows_are_read_back_for_the_nodes_pipeline(tmp_path):
    """`training.evaluate --commands heldout:ADAPTER` scores the held-out rows that adapter's
    run drew (regenerated from the config it recorded) through the node's pipeline."""
    from robot_sft.adapter import AdapterMetadata, write_metadata
    from training.command_eval import read_commands
    from training.config import parse_config
    from training.datasets import load_rows

    pytest.importorskip("transformers")
    from tiny_models import make_tokenizer

    config = parse_config(["--num_examples", "200", "--data_seed", "3"])
    make_tokenizer().save_pretrained(tmp_path)  # an adapter directory, weights aside
    write_metadata(tmp_path, AdapterMetadata(base_model="embedded", system_prompt="",
                                             chat_template="chatml", config=config.to_dict()))
    commands = read_commands(f"heldout:{tmp_path}")
    _, heldout, _ = load_rows(config)
    assert 0 < len(commands) <= len(heldout)
    assert {c.text for c in commands} <= {r["messages"][-2]["content"] for r in heldout}
    assert all(c.expected for c in commands)


@pytest.mark.parametrize("content, words", [
    ('{"command": "go", "expected": [\n', "line 1: not JSON"),
    ('["a list"]\n', "line 1: expected a JSON object"),
    ('{"command": "go"}\n', "line 1: not a command with expected actions (KeyError"),
    ('{"command": "go", "expected": [{"type": "fly"}], "intent": "move"}\n', "unknown action type"),
])
def test_a_damaged_held_out_file_is_a_one_line_error(tmp_path, capsys, content, words):
    """A held-out file cut short or edited by hand: `--commands heldout:ADAPTER` says which
    file and line, exit status 1, no traceback."""
    from robot_sft.adapter import AdapterMetadata, write_metadata
    from training.command_eval import main
    from training.datasets import HELDOUT_FILE

    pytest.importorskip("transformers")
    from tiny_models import make_tokenizer

    make_tokenizer().save_pretrained(tmp_path)  # an adapter directory, weights aside
    write_metadata(tmp_path, AdapterMetadata(base_model="embedded", system_prompt="",
                                             chat_template="chatml", config={}))
    (tmp_path / HELDOUT_FILE).write_text(content)
    assert main(["--commands", f"heldout:{tmp_path}", "--out", str(tmp_path / "eval")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(tmp_path / HELDOUT_FILE) in err and words in err
    assert "\n" not in err and "Traceback" not in err


def test_a_missing_adapter_for_held_out_rows_is_a_one_line_error(tmp_path, capsys):
    from training.command_eval import main

    assert main(["--commands", f"heldout:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "eval")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: adapter directory") and "\n" not in err

"""Evaluation commands and their near-duplicates never enter the generated data. The
tests read the evaluation files through code only (the rows are never shown)."""
import json

import pytest

from training.data import generate as G
from training.data.exclusion import (
    EVAL_SETS, NearDuplicates, eval_set_commands, jaccard, normalise_command, read_commands,
)


@pytest.mark.parametrize("banned, candidate, excluded", [
    ("Drive forward 2 m.", "drive forward 2 m", True),                # case, punctuation
    ("drive forward 2 m", "drive forward three m", True),             # another number
    ("turn left 90 degrees please", "please turn left 45 degrees", True),  # word order
    ("could you please move the robot forward by two meters and then stop",
     "could you please move the robot forward by two meters and then stop now", True),  # +1 word
    ("drive forward 2 m", "drive backward 2 m", False),               # another direction
    ("turn left 90 degrees", "turn left 90 degrees slowly", False),   # short: +1 word matters
    ("could you please move the robot forward by two meters and then stop",
     "could you please move the robot backward by two meters and then stop", False),
    ("go to the kitchen", "go to the garage", False),
])
def test_near_duplicates(banned, candidate, excluded):
    assert (candidate in NearDuplicates([banned])) == excluded, jaccard(banned, candidate)


def test_every_evaluation_set_is_read_by_default():
    assert [p.name for p in EVAL_SETS] == ["handwritten_commands.jsonl", "independent_commands.jsonl",
                                           "outside_a_commands.jsonl", "outside_b_commands.jsonl"]
    commands = eval_set_commands()
    assert len(commands) == sum(len(read_commands(p)) for p in EVAL_SETS) >= 650 + 38 + 500


def test_a_missing_set_is_skipped_with_a_note(tmp_path):
    notes = []
    assert eval_set_commands([tmp_path / "gone.jsonl"], note=notes.append) == []
    assert "not excluded" in notes[0]


@pytest.fixture(scope="module")
def default_data():
    return G.generate_dataset(n=3000, seed=0)


def test_default_data_holds_no_evaluation_command_or_near_duplicate(default_data):
    banned = NearDuplicates(eval_set_commands())
    seeds = {normalise_command(c) for c, _, _ in G.SEED_EXAMPLES}  # the tutorial's, by design
    leaked = [r for rows in default_data.values() for r in rows
              if r["messages"][1]["content"] in banned
              and normalise_command(r["messages"][1]["content"]) not in seeds]
    assert len(leaked) == 0  # (the rows themselves are not printed)


def test_an_explicit_list_excludes_near_duplicates_too(default_data, tmp_path):
    rows = default_data["train"][5:60]
    commands = [r["messages"][1]["content"] for r in rows]
    variants = [c + " now" if len(c.split()) >= 10 else c.upper() for c in commands]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"command": c}) + "\n" for c in variants))
    again = G.generate_dataset(n=3000, seed=0, exclude=G.read_commands(path))
    banned = NearDuplicates(variants)
    assert not [r for s in again.values() for r in s if r["messages"][1]["content"] in banned]
    assert sum(len(s) for s in again.values()) == 3000


def test_cli_excludes_the_evaluation_sets_by_default(tmp_path, capsys):
    assert G.main(["--out", str(tmp_path / "a"), "--n", "100"]) == 0
    assert json.loads((tmp_path / "a" / "stats.json").read_text())["excluded_commands"] == len(
        eval_set_commands())
    assert G.main(["--out", str(tmp_path / "b"), "--n", "100", "--no-eval-exclude"]) == 0
    assert json.loads((tmp_path / "b" / "stats.json").read_text())["excluded_commands"] == 0
    capsys.readouterr()

"""The E32.2 data report: it writes report.md and the plots, and its low-quality flags
fire on the deliberately bad rows of test/data/alpaca_sample.json and nowhere else."""
import json
from pathlib import Path

import pytest

from training import analyze as A

ALPACA = Path(__file__).parent / "data" / "alpaca_sample.json"
# Row index -> the flag each deliberately bad row of alpaca_sample.json must raise.
EXPECTED_FLAGS = {
    2: "refers to a missing input", 16: "refers to a missing input",
    5: "empty or near-empty output", 20: "empty or near-empty output",
    8: "looks truncated", 24: "looks truncated",
    9: "output repeats the instruction",
    10: "duplicated instruction",
    11: "very long output",
    12: "non-English text",
    13: "refusal",
}


@pytest.fixture(scope="module")
def alpaca_report():
    return A.analyze(str(ALPACA), use_tokenizer=False)


def test_bad_alpaca_rows_are_flagged(alpaca_report):
    flagged = {(i, flag) for flag, hits in alpaca_report.flags.items() for i, _ in hits}
    for index, flag in EXPECTED_FLAGS.items():
        assert (index, flag) in flagged, (index, flag, alpaca_report.flags)
    good = set(range(len(alpaca_report.rows))) - set(EXPECTED_FLAGS) - {1}  # 1: French output
    assert not {i for i, _ in flagged} & good, alpaca_report.flags
    assert not alpaca_report.robot


def test_lengths_verbs_and_tasks(alpaca_report):
    assert len(alpaca_report.word_lengths) == 25
    assert A.percentiles([1, 2, 3, 4, 5])[50] == 3
    assert alpaca_report.leading_verbs["explain"] == 2  # "Please explain ..." counts as explain
    assert alpaca_report.response_words_by_task["name"][0] == 2


@pytest.mark.parametrize("text, verb", [
    ("Please move forward 2 m", "move"), ("could you please turn left", "turn"),
    ("hey robot, go to the kitchen", "go"), ("I need you to stop", "stop"), ("???", "(none)"),
])
def test_leading_verb(text, verb):
    assert A.leading_verb(text) == verb


def test_report_files(tmp_path, alpaca_report):
    paths = A.write_report(alpaca_report, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "## 4. Low-quality flags" in text and "duplicated instruction: 1 rows" in text
    for name in ("instruction_lengths", "leading_verbs", "response_length_by_task"):
        assert paths[name].read_bytes()[:4] == b"\x89PNG"


def test_generated_robot_data(tmp_path):
    from training.data.generate import generate_dataset, write_dataset

    paths = write_dataset(generate_dataset(n=400, seed=0), tmp_path / "data")
    report = A.analyze(str(paths["train"]), use_tokenizer=False)
    assert report.robot
    assert "target rejected by parse_response" not in report.flags
    assert "target disagrees with actions" not in report.flags
    assert "refuse" in report.response_words_by_task  # task = the generator's intent
    # A broken target in robot data is caught.
    rows = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    rows[0]["messages"][2]["content"] = "Moving ahead now."
    rows[1]["messages"][2]["content"] = "Move forward 99 m."
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    flags = A.analyze(str(bad), use_tokenizer=False).flags
    assert [i for i, _ in flags["target rejected by parse_response"]] == [0]
    assert [i for i, _ in flags["target disagrees with actions"]] == [1]


def test_cli(tmp_path, capsys):
    assert A.main([str(ALPACA), "--out", str(tmp_path), "--tokenizer", str(tmp_path / "no-such-model")]) == 0
    out = capsys.readouterr().out
    assert "flags:" in out and "lengths in words" in out
    assert (tmp_path / "report.md").is_file()

"""benchmarks/latency.py end to end on a tiny random model (--smoke: seconds)."""
import json

import pytest

pytest.importorskip("torch")


def test_smoke_run_prints_the_table_and_writes_the_figures(tmp_path, capsys):
    from benchmarks.latency import COMMANDS, EXPECTED, main

    out = tmp_path / "latency.json"
    assert main(["--smoke", "--threads", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert list(results) == COMMANDS[:1] and set(EXPECTED) == set(COMMANDS)
    paths = results[COMMANDS[0]]
    assert set(paths) == {"tutorial", "project"}
    for figures in paths.values():
        assert figures["median_ms"] > 0 and figures["floor_ms"] > 0
        assert figures["parsed"] == figures["runs"] == 1  # budget mode plans the expected text
    # budget mode: the tutorial generates the whole answer + end of turn, the node the first line
    assert paths["project"]["tokens"] <= paths["tutorial"]["tokens"]
    printed = capsys.readouterr().out
    assert "mode budget" in printed and "| **median** |" in printed and "project / floor" in printed


def test_budget_answers_parse_and_plan():
    """Every expected answer is canonical, so budget mode times a real parse + plan."""
    from benchmarks.latency import EXPECTED, plan_first_twist
    from robot_sft.response_format import parse_response, render_response

    for answer in EXPECTED.values():
        assert render_response(parse_response(answer)) == answer
        assert plan_first_twist(answer)

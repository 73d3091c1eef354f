"""benchmarks/latency.py runs end to end (--smoke: tiny random model, embedded tokenizer)."""
import json

import pytest


@pytest.mark.slow
def test_latency_benchmark_smoke(tmp_path, capsys):
    pytest.importorskip("llguidance")  # --constrained
    from benchmarks.latency import COMMANDS, main

    out = tmp_path / "latency.json"
    assert main(["--smoke", "--constrained", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert list(results) == COMMANDS[:1]
    for per_path in results.values():
        assert set(per_path) == {"tutorial", "project", "project+grammar"}
        for figures in per_path.values():
            assert figures["median_ms"] > 0 and figures["tokens"] >= 1
    printed = capsys.readouterr().out
    assert "| **median** |" in printed and "tutorial / project" in printed

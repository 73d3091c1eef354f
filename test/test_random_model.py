"""benchmarks/random_model.py: models of a known shape built locally for throughput runs
(the GPU check builds TinyLlama's shape on the device), and the benchmark's dry run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.random_model import SHAPES, build_random_model, parameter_count  # noqa: E402


def test_n_counts_every_matmul_weight_a_token_passes_through():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(**SHAPES["tiny"]))
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert parameter_count(model.config) == weights


def test_tinyllama_shape_is_1_1b_parameters():
    from transformers import LlamaConfig

    config = LlamaConfig(**SHAPES["tinyllama"])
    embedding = config.vocab_size * config.hidden_size
    assert 1.09e9 < parameter_count(config) + embedding < 1.11e9  # TinyLlama-1.1B: 1,100,048,384


@pytest.mark.slow  # the embedded model's cache (tokenizer)
def test_smollm2_shape_is_the_embedded_models_config():
    from transformers import AutoConfig

    from robot_sft.models import resolve_model_path

    embedded = AutoConfig.from_pretrained(resolve_model_path("embedded"))
    for key, value in SHAPES["smollm2-135m"].items():
        assert getattr(embedded, key) == (value if isinstance(value, dict) else pytest.approx(value)), key


@pytest.mark.slow  # the embedded model's cache (tokenizer)
def test_a_random_model_has_the_shape_and_a_tokenizer_that_fits_it(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    target = build_random_model("tiny", tmp_path / "tiny")
    config, tokenizer = AutoConfig.from_pretrained(target), AutoTokenizer.from_pretrained(target)
    assert config.hidden_size == 64 and config.vocab_size == len(tokenizer) == 32000
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "go forward 2 meters, slowly"}],
                                        tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert 5 < len(ids) < 60 and max(ids) < 32000
    assert json.loads((target / "tokenizer.json").read_text())["model"]["merges"]


@pytest.mark.slow  # three child processes importing torch + TRL
def test_benchmark_dry_run_on_a_random_shape(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--device", "cpu", "--smoke",
                           "--random-shape", "tiny", "--recipes", "tutorial,project", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "project / tutorial" in done.stdout and "4N FLOP per non-pad token" in done.stdout
    results = json.loads(out.read_text())["results"]
    assert [r["recipe"] for r in results] == ["tutorial", "project"]
    assert all(r["tokens_per_s"] > 0 and r["peak_memory_mb"] > 0 and r["first_step_s"] > 0 for r in results)
    assert results[0]["dtype"] == "float32"  # the tutorial's own dtype on a CPU

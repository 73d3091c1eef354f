"""Choosing the training dtype: by measurement on a CPU, by compute capability on CUDA
(training/precision.py, training/runtime.py)."""
import pytest

from training.config import TrainConfig
from training.precision import BF16_MIN_SPEEDUP, choose_cpu_dtype, measure_bf16_speedup


@pytest.mark.parametrize("speedup, dtype", [
    (20.0, "bfloat16"),             # AMX-class bf16 GEMMs
    (4.0, "bfloat16"),              # AVX512-BF16 (this project's EPYC)
    (BF16_MIN_SPEEDUP, "bfloat16"),
    (1.29, "float32"),              # "as fast": not worth the rounding
    (1.0, "float32"),
    (0.05, "float32"),              # no bf16 instructions: emulated, ~20x slower
])
def test_bf16_only_when_clearly_faster(speedup, dtype):
    assert choose_cpu_dtype(speedup) == dtype


def test_the_probe_measures_a_positive_ratio_and_restores_threads():
    import torch

    before = torch.get_num_threads()
    ratio = measure_bf16_speedup(threads=1, hidden=128, intermediate=256, tokens=32, repeats=1)
    assert ratio > 0 and ratio == ratio  # finite, not NaN
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_an_explicit_dtype_is_not_measured(dtype, monkeypatch):
    import training.precision as cpu_dtype
    from training.runtime import resolve_dtype

    monkeypatch.setattr(cpu_dtype, "measure_bf16_speedup", lambda *a, **k: pytest.fail("probed"))
    assert resolve_dtype(TrainConfig(dtype=dtype), "cpu", 1) == dtype


@pytest.mark.parametrize("speedup, dtype", [(3.9, "bfloat16"), (0.9, "float32")])
def test_auto_on_a_cpu_follows_the_probe_and_says_so(speedup, dtype, monkeypatch, capsys):
    import training.precision as cpu_dtype
    from training.runtime import resolve_dtype

    monkeypatch.setattr(cpu_dtype, "measure_bf16_speedup", lambda threads: speedup)
    assert resolve_dtype(TrainConfig(), "cpu", 1) == dtype
    assert f"measured {speedup:.1f}x fp32" in capsys.readouterr().out


@pytest.mark.parametrize("capability, dtype, tf32", [
    ((9, 0), "bfloat16", True),     # H100 / H200
    ((8, 0), "bfloat16", True),     # A100: the first with bf16 tensor cores
    ((8, 6), "bfloat16", True),     # RTX 30xx, A10
    ((7, 5), "float16", False),     # T4: fp16 with loss scaling
    ((7, 0), "float16", False),     # V100
    ((6, 1), "float16", False),     # Pascal
])
def test_cuda_dtype_follows_the_compute_capability(capability, dtype, tf32):
    from training.precision import choose_cuda_dtype, tf32_available

    assert choose_cuda_dtype(capability) == dtype
    assert tf32_available(capability) is tf32


@pytest.mark.parametrize("capability, dtype", [((9, 0), "bfloat16"), ((7, 5), "float16")])
def test_auto_on_cuda_reads_the_capability_without_a_probe(capability, dtype, monkeypatch, capsys):
    import training.precision as cpu_dtype
    import training.runtime as runtime
    from training.runtime import resolve_dtype

    monkeypatch.setattr(cpu_dtype, "measure_bf16_speedup", lambda *a, **k: pytest.fail("probed"))
    monkeypatch.setattr(runtime, "cuda_capability", lambda device: capability)
    assert resolve_dtype(TrainConfig(), "cuda", 1) == dtype
    assert f"compute capability {capability[0]}.{capability[1]} -> {dtype}" in capsys.readouterr().out


@pytest.mark.parametrize("setting, device, dtype, attention", [
    ("auto", "cpu", "bfloat16", "eager"),
    ("auto", "cpu", "float32", "sdpa"),
    ("auto", "cuda", "bfloat16", "sdpa"),
    ("sdpa", "cpu", "bfloat16", "sdpa"),
    ("eager", "cuda", "bfloat16", "eager"),
])
def test_attention_implementation(setting, device, dtype, attention):
    from training.runtime import resolve_attention

    assert resolve_attention(TrainConfig(attn_implementation=setting), device, dtype) == attention

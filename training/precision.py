"""Choose the training dtype for the device: by compute capability on CUDA, by measuring
the host on a CPU, never by assumption.

CUDA: bf16 needs bf16 tensor cores, which arrived with compute capability 8.0 (Ampere:
A100, RTX 30xx; Hopper: H100/H200). Below that (V100 = 7.0, T4 = 7.5) bf16 is emulated
and slow, and fp16 with loss scaling (the Trainer's GradScaler) is the fast, stable choice.
TF32 matmuls (fp32 inputs on tensor cores) exist from 8.0 too.

CPU: bf16 autocast ranges from ~2.5x faster than fp32 (AVX512-BF16: a 576-wide LoRA
step of SmolLM2 measured 0.69 s vs 1.78 s) through "as fast" (some AMX hosts, where the
work around the matmuls dominates) to ~20x slower (no bf16 instructions: emulated).
`measure_bf16_speedup` times a small transformer-MLP forward + backward (the shape of the
work a LoRA step does: frozen weights, gradients flowing to the input) both ways on the
threads one training process will use, in about a second; `choose_cpu_dtype` picks bf16
only when it clearly wins.
"""
from __future__ import annotations

import time

BF16_MIN_SPEEDUP = 1.3  # below this the accuracy risk of bf16 is not worth it
BF16_MIN_CAPABILITY = (8, 0)  # Ampere: bf16 tensor cores and TF32


def choose_cuda_dtype(capability: tuple[int, int]) -> str:
    """"bfloat16" on compute capability >= 8.0, else "float16" (trained with loss scaling)."""
    return "bfloat16" if tuple(capability) >= BF16_MIN_CAPABILITY else "float16"


def tf32_available(capability: tuple[int, int]) -> bool:
    """TF32 tensor-core matmuls for the fp32 work left under autocast (>= 8.0)."""
    return tuple(capability) >= BF16_MIN_CAPABILITY


def choose_cpu_dtype(bf16_speedup: float, threshold: float = BF16_MIN_SPEEDUP) -> str:
    """"bfloat16" when bf16 autocast is at least `threshold` x faster than fp32, else "float32"."""
    return "bfloat16" if bf16_speedup >= threshold else "float32"


def measure_bf16_speedup(threads: int = 1, hidden: int = 1024, intermediate: int = 2816,
                         tokens: int = 256, repeats: int = 3) -> float:
    """fp32 time / bf16-autocast time of one MLP forward + input backward (best of `repeats`)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        return _best_time(torch.float32, hidden, intermediate, tokens, repeats) / \
            _best_time(torch.bfloat16, hidden, intermediate, tokens, repeats)
    finally:
        torch.set_num_threads(previous)


def _best_time(dtype, hidden: int, intermediate: int, tokens: int, repeats: int) -> float:
    import torch

    generator = torch.Generator().manual_seed(0)
    # Frozen weights stored in `dtype`, as load_model stores the base model.
    up = torch.randn(intermediate, hidden, generator=generator, dtype=dtype) / hidden ** 0.5
    down = torch.randn(hidden, intermediate, generator=generator, dtype=dtype) / intermediate ** 0.5
    x = torch.randn(tokens, hidden, generator=generator, requires_grad=True)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            y = torch.nn.functional.linear(torch.nn.functional.silu(
                torch.nn.functional.linear(x, up)), down)
            loss = y.float().square().mean()
        loss.backward()
        x.grad = None

    step()  # first call: kernel selection, allocations
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best

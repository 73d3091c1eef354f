"""Where and how a training process runs: its rank, CPU threads, device, dtype, attention.

`resolve_runtime(config)` decides all of it once, at the start of a process, and prints
it; the rest of training reads the `Runtime` it returns instead of asking the config
(or torch) again. Process launching lives in training/launch.py, the dtype rules in
training/precision.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from training.config import TrainConfig
from training.errors import TrainingError


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun / accelerate launch; (0, 1) when run alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    return world()[0] == 0


def say(message: str) -> None:
    """Print once per run (rank 0), flushed: progress notes, not logging."""
    if is_main_process():
        print(message, flush=True)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_process(config: TrainConfig, processes: int) -> int:
    """The configured num_threads, else this machine's cores shared among `processes`."""
    return config.num_threads if config.num_threads > 0 else max(1, usable_cores() // processes)


def set_threads(config: TrainConfig) -> int:
    """torch CPU threads: the configured number, else this machine's cores shared
    among the processes of this node (2 DDP processes on 2 cores -> 1 each)."""
    import torch

    threads = threads_per_process(config, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    torch.set_num_threads(threads)
    return threads


def resolve_device(config: TrainConfig) -> str:
    import torch

    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {config.device} requested but CUDA is not available; use --device cpu")
    return config.device


def cuda_capability(device: str) -> tuple[int, int]:
    import torch

    return tuple(torch.cuda.get_device_capability(device))


def resolve_dtype(config: TrainConfig, device: str, threads: int) -> str:
    """The configured dtype; for "auto": on CUDA by compute capability (bf16 from 8.0, fp16
    below), on a CPU whichever of bf16 autocast and fp32 a one-second probe on `threads`
    threads measures faster, fp32 elsewhere (mps)."""
    from training.precision import choose_cpu_dtype, choose_cuda_dtype, measure_bf16_speedup

    if config.dtype != "auto":
        return config.dtype
    if device.startswith("cuda"):
        capability = cuda_capability(device)
        dtype = choose_cuda_dtype(capability)
        say(f"dtype auto: compute capability {capability[0]}.{capability[1]} -> {dtype}")
        return dtype
    if device != "cpu":
        return "float32"
    speedup = measure_bf16_speedup(threads)
    dtype = choose_cpu_dtype(speedup)
    say(f"dtype auto: bf16 autocast measured {speedup:.1f}x fp32 on this CPU -> {dtype}")
    return dtype


def resolve_attention(config: TrainConfig, device: str, dtype: str) -> str:
    """auto: eager on a CPU in bf16 (torch's CPU flash-attention backward in bf16 made a
    step 16 % slower on 20-70-token rows), sdpa elsewhere."""
    if config.attn_implementation != "auto":
        return config.attn_implementation
    return "eager" if device == "cpu" and dtype == "bfloat16" else "sdpa"


@dataclass(frozen=True)
class Runtime:
    """What this process runs on, decided once (resolve_runtime)."""

    device: str
    dtype: str
    attention: str
    threads: int
    world_size: int
    tf32: bool  # TF32 matmuls for the fp32 work left under autocast (CUDA >= 8.0)

    @property
    def cpu(self) -> bool:
        return self.device == "cpu"


def resolve_runtime(config: TrainConfig) -> Runtime:
    from training.precision import tf32_available

    device = resolve_device(config)
    threads = set_threads(config)
    dtype = resolve_dtype(config, device, threads)
    attention = resolve_attention(config, device, dtype)
    tf32 = device.startswith("cuda") and tf32_available(cuda_capability(device))
    world_size = world()[1]
    say(f"robot_sft training: model {config.model} on {device} ({dtype}, {attention} attention, "
        f"{threads} CPU threads{f' x {world_size} processes' if world_size > 1 else ''}"
        f"{', TF32' if tf32 else ''}) -> {config.output_dir}")
    if config.lr_base_batch:
        say(f"learning rate {config.learning_rate:g} for {config.lr_base_batch} rows -> "
            f"{config.scaled_learning_rate(world_size):.3g} for a global batch of "
            f"{config.global_batch(world_size)}")
    if config.padding_free and not attention.startswith("flash_attention"):
        say(f"note: padding_free with {attention} attention is correct but builds a dense mask over "
            f"each whole micro-batch (cost grows with its tokens squared); it pays with "
            f"flash_attention_2/3")
    return Runtime(device, dtype, attention, threads, world_size, tf32)

"""Data-parallel processes: `python -m training.train --num_processes N` starts itself N times.

Underneath it is `torchrun --standalone --nproc_per_node N` (DDP: gloo on a CPU, nccl on
CUDA), or `accelerate launch --config_file FILE --num_processes N` when `accelerate_config`
names one of training/configs/accelerate/*.yaml (DDP or FSDP). Under an explicit torchrun
or accelerate launch nothing is started: the launcher decides. The checks that would fail
in every worker (output dir, model path) and the one-time dtype probe run once, here,
before the workers start; the workers get the resolved dtype on their command line, so
every rank trains in the same one.
"""
from __future__ import annotations

import dataclasses
import os

from training.config import TrainConfig
from training.runtime import (resolve_device, resolve_dtype, say, threads_per_process,
                              usable_cores, world)


def under_launcher() -> bool:
    """Started by torchrun or accelerate launch (which sets ACCELERATE_MIXED_PRECISION in
    every process it starts, even a single one)."""
    return world()[1] > 1 or "ACCELERATE_MIXED_PRECISION" in os.environ


def usable_processes(config: TrainConfig) -> int:
    """How many data-parallel processes this machine can run: num_processes capped by the
    GPUs (CUDA) or the cores (CPU: each process gets one core or more)."""
    import torch

    device = resolve_device(config)
    if device.startswith("cuda"):
        available = torch.cuda.device_count() if device == "cuda" else 1
    else:
        available = usable_cores()
    return max(1, min(config.num_processes, available))


def plan_processes(config: TrainConfig) -> tuple[int, TrainConfig]:
    """(processes to run, config for them). Fewer processes than configured get a larger
    gradient_accumulation_steps, so the global batch (and the recipe) stays the same."""
    if config.num_processes <= 1 or under_launcher():
        return 1, config
    processes = usable_processes(config)
    factor = config.num_processes / processes
    if factor != int(factor):
        say(f"note: {processes} processes instead of {config.num_processes}: the global batch "
            f"is smaller than configured")
        return processes, config
    if factor > 1:
        say(f"{processes} process(es) instead of {config.num_processes} here: gradient "
            f"accumulation x{int(factor)} keeps the global batch")
    return processes, dataclasses.replace(
        config, num_processes=processes,
        gradient_accumulation_steps=config.gradient_accumulation_steps * int(factor))


def launch_data_parallel(config: TrainConfig, processes: int, argv: list[str]) -> int:
    """Run this same command in `processes` workers and return the exit status."""
    from robot_sft.models import resolve_model_path
    from training.checkpoints import prepare_output_dir

    prepare_output_dir(config)
    resolve_model_path(config.model)
    threads = threads_per_process(config, processes)
    dtype = resolve_dtype(config, resolve_device(config), threads)  # once: every rank the same
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    worker_argv = [*argv, "--num_processes", str(processes), "--dtype", dtype,
                   "--gradient_accumulation_steps", str(config.gradient_accumulation_steps)]
    if config.accelerate_config:
        return _accelerate_launch(config.accelerate_config, processes, worker_argv)
    return _torchrun(processes, worker_argv)


def _torchrun(processes: int, worker_argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    say(f"starting {processes} data-parallel processes (torchrun --standalone)")
    try:
        torchrun(["--standalone", "--nproc_per_node", str(processes), "-m", "training.train",
                  *worker_argv])
    except ChildFailedError:
        return 1  # each worker has printed its one-line error
    except SignalException as exc:  # Ctrl-C / kill: torchrun has stopped the workers
        raise KeyboardInterrupt from exc
    return 0


def _accelerate_launch(config_file: str, processes: int, worker_argv: list[str]) -> int:
    import subprocess
    import sys

    say(f"starting {processes} data-parallel processes (accelerate launch --config_file {config_file})")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file,
               "--num_processes", str(processes), "--module", "training.train", *worker_argv]
    return 1 if subprocess.call(command) else 0

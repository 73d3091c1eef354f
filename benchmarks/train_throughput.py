"""Training throughput: the tutorial's recipe against the project's, same model and data, on
a CPU or a GPU.

    python benchmarks/train_throughput.py                 # CPU: SmolLM2-135M, 2 warm-up + 8 timed steps
    python benchmarks/train_throughput.py --device cuda --random-shape tinyllama   # GPU, no weights needed
    python benchmarks/train_throughput.py --device cuda --model /models/TinyLlama-1.1B-Chat-v1.0
    python benchmarks/train_throughput.py --smoke         # tiny random model, seconds (used by a test)

Each recipe trains in its own child process (separate peak memory):

  tutorial  training/configs/tutorial.yaml: the tutorial's LoRA (r=16, alpha=32, dropout 0.05,
            q/k/v/o), batch 4 x grad-accum 4, lr 2e-4 cosine, loss on ALL tokens, max length
            512, random order, dynamic padding, in the tutorial's own dtype on that device:
            fp16 autocast on a GPU, fp32 on a CPU (fp16 autocast needs a GPU).
  project   the project's recipe for the device: training/configs/embedded.yaml on a CPU (the
            default `python -m training.train`, in one process; dtype by the host probe),
            training/configs/tinyllama.yaml on a GPU (128 rows x 1, bf16 from compute
            capability 8.0); --project-config picks another.
  tutorial-bf16, project-fp32, project-4x4, project-liger, project-nopad, project-compile
            variants that split the gain: the dtype, the batch, Liger's kernels, padding to a
            multiple of 8, torch.compile (`--recipes tutorial,tutorial-bf16,project-fp32,project`).
            A recipe named twice runs twice (the second with warm kernel caches).

--model and --random-shape replace both recipes' model. Printed per recipe: non-pad tokens/s,
examples/s, seconds per optimizer step (timed steps), the first step's seconds (warm-up:
kernel selection, compilation, allocator growth), padding share, achieved model GFLOP/s and
its share of the device's matmul peak in the recipe's dtype (measured here), peak memory
(CUDA max_memory_allocated; on a CPU the process's peak RSS); then the speed ratios.

FLOP convention: 4N per non-pad token of a micro-batch, N = the weights a token passes through
(attention, MLP and LM-head matrices; benchmarks/random_model.parameter_count): forward 2N +
backward to the activations 2N. LoRA's own matmuls, attention scores and savings such as the
project's LM head computed only at labelled positions are not counted, so both recipes are
credited the same work per token. Model loading and tokenisation are not timed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = ROOT / "training" / "configs"
PROJECT_CONFIG = {"cpu": CONFIGS / "embedded.yaml", "cuda": CONFIGS / "tinyllama.yaml"}
# name -> (config, overrides); None = the project's config for the device.
RECIPES = {
    "tutorial": (CONFIGS / "tutorial.yaml", []),
    "project": (None, []),
    "tutorial-bf16": (CONFIGS / "tutorial.yaml", ["--dtype", "bfloat16", "--attn_implementation", "eager"]),
    "project-fp32": (None, ["--dtype", "float32", "--attn_implementation", "sdpa"]),
    "project-4x4": (None, ["--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "4"]),
    "project-liger": (None, ["--use_liger_kernel", "true"]),
    "project-nopad": (None, ["--pad_to_multiple_of", "0"]),
    "project-compile": (None, ["--torch_compile", "true"]),
}
TUTORIAL_DTYPE = {"cpu": [], "cuda": ["--dtype", "float16"]}  # tutorial.yaml pins fp32 for CPUs


def matmul_peak_gflops(device: str, dtype: str, threads: int) -> float:
    """Best square-GEMM rate in `dtype` on the device, in GFLOP/s (CUDA: 8192^3 timed with
    events after warm-up; CPU: 1024^3 on `threads` threads)."""
    import torch

    size = 8192 if device == "cuda" else 1024
    torch.set_num_threads(threads)
    a, b = (torch.randn(size, size, dtype=getattr(torch, dtype), device=device) for _ in range(2))
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(10):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1000
        else:
            start = time.perf_counter()
            a @ b
            seconds = time.perf_counter() - start
        best = min(best, seconds)
    return 2 * size ** 3 / best / 1e9


class Meter:
    """Wraps the collator to count what each micro-batch holds, and times optimizer steps."""

    def __init__(self, collator, device: str):
        self.collator, self.device = collator, device
        self.batches: list[tuple[int, int, int]] = []  # (rows, padded tokens, non-pad tokens)
        self.step_times: list[float] = []

    def __call__(self, features):
        batch = self.collator(features)
        if "attention_mask" in batch:
            rows, length = batch["input_ids"].shape
            self.batches.append((rows, rows * length, int(batch["attention_mask"].sum())))
        else:  # padding-free: one flattened row; rows start where position_ids are 0
            tokens = batch["input_ids"].numel()
            self.batches.append((len(features), tokens, sum(len(f["input_ids"]) for f in features)))
        return batch

    def callback(self):
        from transformers import TrainerCallback

        meter = self

        def now():
            if meter.device == "cuda":
                import torch

                torch.cuda.synchronize()  # a step's kernels are done when its time is read
            return time.perf_counter()

        class _Timer(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                meter._begin = now()

            def on_step_end(self, args, state, control, **kwargs):
                meter.step_times.append(now() - meter._begin)

        return _Timer()


def recipe_argv(recipe: str, device: str, project_config: str | None) -> list[str]:
    config_file, overrides = RECIPES[recipe]
    if config_file is None:
        config_file = project_config or PROJECT_CONFIG[device]
    elif recipe.startswith("tutorial") and "--dtype" not in overrides:
        overrides = overrides + TUTORIAL_DTYPE[device]
    return ["--config", str(config_file), *overrides, "--device", device, "--num_processes", "1"]


def run_recipe(args, recipe: str, threads: int) -> dict:
    """Child process: train `warmup + steps` optimizer steps of one recipe, return figures."""
    from benchmarks.random_model import parameter_count
    from training.config import parse_config
    from training.train import build_run

    out = tempfile.mkdtemp(prefix=f"throughput-{recipe}-")
    argv = [*recipe_argv(recipe, args.device, args.project_config),
            "--max_steps", str(args.warmup + args.steps), "--output_dir", out,
            "--save_steps", "100000", "--num_threads", str(threads), "--logging_steps", "1000",
            "--eval_samples", "-1"]
    if args.model:
        argv += ["--model", args.model]
    if args.smoke:
        argv += ["--num_examples", "120", "--max_length", "512"]
    config = parse_config(argv)
    run = build_run(config)
    trainer = run.trainer
    meter = Meter(trainer.data_collator, args.device)
    trainer.data_collator = meter
    trainer.add_callback(meter.callback())
    if args.device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    trainer.train()

    # Steps after warm-up; each step consumed grad-accum micro-batches, in order.
    accum = config.gradient_accumulation_steps
    timed = meter.step_times[args.warmup:]
    micro = meter.batches[args.warmup * accum:(args.warmup + len(timed)) * accum]
    seconds = sum(timed)
    real_tokens = sum(real for _, _, real in micro)
    n = parameter_count(trainer.model.config)
    return {"recipe": recipe, "model": config.model, "device": args.device, "steps": len(timed),
            "seconds": seconds, "tokens_per_s": real_tokens / seconds,
            "examples_per_s": sum(rows for rows, _, _ in micro) / seconds,
            "s_per_step": seconds / len(timed), "first_step_s": meter.step_times[0],
            "step_times": [round(t, 4) for t in meter.step_times],
            "padding_share": 1 - real_tokens / sum(padded for _, padded, _ in micro),
            "gflops": 4 * n * real_tokens / seconds / 1e9, "parameters_n": n,
            "peak_memory_mb": peak_memory_mb(args.device),
            "batch": f"{config.per_device_train_batch_size}x{accum}",
            "threads": run.runtime.threads, "dtype": run.runtime.dtype}


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def smoke_model() -> Path:
    """A tiny random Llama with a byte-level ChatML tokenizer (the test suite's), built once."""
    sys.path.insert(0, str(ROOT / "test"))
    from tiny_models import make_tiny_adapter

    root = Path(tempfile.gettempdir()) / f"robot_sft_smoke_model_{os.getuid()}"
    if not (root / "base" / "config.json").is_file():
        make_tiny_adapter(root)
    return root / "base"


def report(results: list[dict], peaks: dict[str, float]) -> str:
    lines = [f"device {results[0]['device']}, matmul peak measured here: "
             + ", ".join(f"{dtype} {gflops:.0f} GFLOP/s" for dtype, gflops in peaks.items())
             + f"; 'of peak' = 4N FLOP per non-pad token (N = {results[0]['parameters_n'] / 1e6:.0f}M "
             "matmul weights) against the recipe's dtype",
             f"{'recipe':<14}{'dtype':>9}{'batch':>7}{'tok/s':>10}{'ex/s':>8}{'s/step':>8}{'1st s':>7}"
             f"{'pad':>5}{'GFLOP/s':>10}{'of peak':>8}{'peak MB':>9}"]
    for r in results:
        lines.append(f"{r['recipe']:<14}{r['dtype']:>9}{r['batch']:>7}{r['tokens_per_s']:>10.0f}"
                     f"{r['examples_per_s']:>8.1f}{r['s_per_step']:>8.2f}{r['first_step_s']:>7.2f}"
                     f"{r['padding_share']:>5.0%}{r['gflops']:>10.1f}"
                     f"{r['gflops'] / peaks[r['dtype']]:>8.1%}{r['peak_memory_mb']:>9.0f}")
    by_name = {r["recipe"]: r for r in results}
    if "tutorial" in by_name:
        t = by_name["tutorial"]
        for p in results:
            if p is not t:
                lines.append(f"{p['recipe']} / tutorial: {p['tokens_per_s'] / t['tokens_per_s']:.2f}x "
                             f"non-pad tokens/s, {p['examples_per_s'] / t['examples_per_s']:.2f}x examples/s")
    return "\n".join(lines)


def parse_args(argv=None):
    from benchmarks.random_model import SHAPES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available, else cpu")
    parser.add_argument("--model", help="model directory for both recipes (default: each config's)")
    parser.add_argument("--random-shape", choices=sorted(SHAPES),
                        help="build a randomly initialised model of this shape here and use it")
    parser.add_argument("--tokenizer", help="--random-shape: directory with SmolLM2's tokenizer.json "
                                            "(default: the embedded model's cache)")
    parser.add_argument("--project-config", help="the project's recipe (default: embedded.yaml on a "
                                                 "CPU, tinyllama.yaml on a GPU)")
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps per recipe")
    parser.add_argument("--warmup", type=int, default=2, help="untimed optimizer steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    parser.add_argument("--recipes", default="tutorial,project",
                        help=f"comma-separated, from: {', '.join(RECIPES)}")
    parser.add_argument("--smoke", action="store_true", help="tiny random model, 1+2 steps")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.smoke:
        args.steps, args.warmup = min(args.steps, 2), 1
        args.model = args.model or (None if args.random_shape else str(smoke_model()))
    threads = args.threads or len(os.sched_getaffinity(0))
    if args.worker:  # child: one recipe, JSON on the last stdout line
        print(json.dumps(run_recipe(args, args.worker, threads)))
        return 0
    recipes = args.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        print(f"error: unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}",
              file=sys.stderr)
        return 2
    if args.model and not args.worker:
        from robot_sft.models import ModelLoadError, resolve_model_path

        try:
            resolve_model_path(args.model)
        except ModelLoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.random_shape:
        from benchmarks.random_model import build_random_model

        target = Path(tempfile.gettempdir()) / f"robot_sft_random_{args.random_shape}_{os.getuid()}"
        args.model = str(build_random_model(args.random_shape, target, args.tokenizer, args.device))
        print(f"random {args.random_shape} model: {args.model}", flush=True)
    results, failed = [], []
    for recipe in recipes:
        command = [sys.executable, __file__, "--worker", recipe, "--device", args.device,
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(threads)]
        for option in ("model", "project_config"):
            if getattr(args, option):
                command += [f"--{option.replace('_', '-')}", getattr(args, option)]
        command += ["--smoke"] if args.smoke else []
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:  # say why, and measure the other recipes all the same
            print(done.stderr[-3000:], file=sys.stderr)
            print(f"error: recipe {recipe} failed (exit {done.returncode})", file=sys.stderr)
            failed.append(recipe)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{recipe}: {results[-1]['tokens_per_s']:.0f} tokens/s", file=sys.stderr, flush=True)
    if not results:
        return 1
    peaks = {dtype: matmul_peak_gflops(args.device, dtype, threads)
             for dtype in sorted({r["dtype"] for r in results})}
    print(report(results, peaks))
    if failed:
        print(f"failed: {', '.join(failed)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"matmul_peak_gflops": peaks, "results": results,
                                               "failed": failed}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

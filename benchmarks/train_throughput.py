"""Training throughput: the tutorial's recipe against the project's, same model and data.

    python benchmarks/train_throughput.py                 # SmolLM2-135M, 2 warm-up + 8 timed steps each
    python benchmarks/train_throughput.py --steps 20 --threads 2
    python benchmarks/train_throughput.py --smoke         # tiny random model, seconds (used by a test)

Each recipe trains in its own child process (same process tree; separate peak RSS):

  tutorial  training/configs/tutorial.yaml: the tutorial's LoRA (r=16, alpha=32, dropout 0.05,
            q/k/v/o), batch 4 x grad-accum 4, lr 2e-4 cosine, loss on ALL tokens, max length
            512, random order, TRL's dynamic padding to the longest row of a batch; fp32 on CPU
            (the tutorial's fp16 autocast needs a GPU).
  project   training/configs/embedded.yaml: the default `python -m training.train` recipe, dtype
            included (`auto`: bf16 autocast where a probe measures it faster, see
            training/cpu_dtype.py), in one process (the default's 2 x 1-thread data-parallel
            processes train as fast as 1 x 2 threads in bf16, measured).
  tutorial-bf16, project-fp32   the same recipes with the other dtype: which part of the gain
            is the dtype, which the recipe (`--recipes tutorial,tutorial-bf16,project-fp32,project`).

Printed per recipe: non-pad tokens/s, examples/s, seconds per optimizer step, peak RSS and
achieved GFLOP/s (analytic model FLOPs of the work done, see `step_flops`) against a matmul
peak in the recipe's dtype measured here on the same number of threads; then the speed ratios.
Warm-up steps are excluded from the timings. Model loading and tokenisation are not timed.
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

TUTORIAL, PROJECT = ROOT / "training/configs/tutorial.yaml", ROOT / "training/configs/embedded.yaml"
# name -> (YAML, overrides). The variants split the project's gain into the dtype (chosen by
# measuring the host: bf16 autocast + eager attention where it wins) and the rest of the recipe.
RECIPES = {
    "tutorial": (TUTORIAL, []),
    "project": (PROJECT, []),
    "tutorial-bf16": (TUTORIAL, ["--dtype", "bfloat16", "--attn_implementation", "eager"]),
    "project-fp32": (PROJECT, ["--dtype", "float32", "--attn_implementation", "sdpa"]),
}


def matmul_peak_gflops(threads: int, dtype: str = "float32", size: int = 1024, repeats: int = 10) -> float:
    """Best GEMM rate in `dtype` on `threads` threads (square matrices), in GFLOP/s."""
    import torch

    torch.set_num_threads(threads)
    a, b = (torch.randn(size, size, dtype=getattr(torch, dtype)) for _ in range(2))
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def step_flops(model_config, lora, batch: int, length: int, projected: int) -> float:
    """Analytic FLOPs of one forward + backward of a LoRA-adapted Llama on a padded
    (batch, length) micro-batch whose LM head projects `projected` positions.

    Forward: 2 x linear params x tokens + attention (QK^T and AV, full square) + LM head.
    Backward: input gradients (2x the forward) through the layers at and above the lowest
    adapted one (nothing below it needs a gradient) + the LM head's input gradient + the
    LoRA weights' gradients. Frozen weights get no weight gradient.
    """
    c = model_config
    d, layers, vocab = c.hidden_size, c.num_hidden_layers, c.vocab_size
    head_dim = getattr(c, "head_dim", None) or d // c.num_attention_heads
    q, kv = c.num_attention_heads * head_dim, c.num_key_value_heads * head_dim
    layer_params = d * q + 2 * d * kv + q * d + 3 * d * c.intermediate_size
    tokens = batch * length
    attention = 4 * batch * length * length * q  # per layer, forward
    lora_layers = lora["layers"] or list(range(layers))
    lora_params = lora["params"]  # all adapted A and B matrices
    forward = layers * (2 * layer_params * tokens + attention) + 2 * d * vocab * projected \
        + 2 * lora_params * tokens
    backward_layers = layers - min(lora_layers)
    backward = backward_layers * (2 * layer_params * tokens + 2 * attention) \
        + 2 * d * vocab * projected + 4 * lora_params * tokens
    return float(forward + backward)


class Meter:
    """Wraps the collator to count what each micro-batch holds, and times optimizer steps."""

    def __init__(self, collator, assistant_only: bool):
        self.collator, self.assistant_only = collator, assistant_only
        self.batches: list[tuple[int, int, int, int]] = []  # (rows, padded len, real tokens, projected)
        self.step_times: list[float] = []
        self.step_batches: list[int] = []  # micro-batches seen when each step ended

    def __call__(self, features):
        batch = self.collator(features)
        rows, length = batch["input_ids"].shape
        real = int(batch["attention_mask"].sum())
        # Positions the LM head projects: labelled ones (compact) or every position.
        labelled = int((batch["labels"][:, 1:] != -100).sum())
        projected = labelled if self.assistant_only else rows * (length - 1)
        self.batches.append((rows, length, real, projected))
        return batch

    def callback(self):
        from transformers import TrainerCallback

        meter = self

        class _Timer(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                meter._begin = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                meter.step_times.append(time.perf_counter() - meter._begin)
                meter.step_batches.append(len(meter.batches))

        return _Timer()


def run_recipe(recipe: str, steps: int, warmup: int, threads: int, smoke: bool) -> dict:
    """Child process: train `warmup + steps` optimizer steps of one recipe, return figures."""
    from training.config import parse_config
    from training.train import build_run

    out = tempfile.mkdtemp(prefix=f"throughput-{recipe}-")
    config_file, overrides = RECIPES[recipe]
    argv = ["--config", str(config_file), *overrides, "--max_steps", str(warmup + steps),
            "--output_dir", out, "--save_steps", "100000", "--num_threads", str(threads),
            "--logging_steps", "1000", "--eval_samples", "-1"]
    if smoke:
        argv += ["--model", str(smoke_model()), "--num_examples", "120", "--max_length", "512"]
    config = parse_config(argv)
    run = build_run(config)
    trainer = run.trainer
    meter = Meter(trainer.data_collator, config.assistant_only_loss)
    trainer.data_collator = meter
    trainer.add_callback(meter.callback())
    trainer.train()

    # Steps after warm-up; each step consumed grad-accum micro-batches, in order.
    accum = config.gradient_accumulation_steps
    timed = meter.step_times[warmup:]
    micro = meter.batches[warmup * accum:(warmup + len(timed)) * accum]
    seconds = sum(timed)
    lora = {"layers": lora_layers(trainer.model), "params": lora_parameter_count(trainer.model)}
    flops = sum(step_flops(trainer.model.config, lora, rows, length, projected)
                for rows, length, _, projected in micro)
    real_tokens = sum(real for _, _, real, _ in micro)
    padded_tokens = sum(rows * length for rows, length, _, _ in micro)
    examples = sum(rows for rows, _, _, _ in micro)
    return {"recipe": recipe, "model": config.model, "steps": len(timed), "seconds": seconds,
            "tokens_per_s": real_tokens / seconds, "examples_per_s": examples / seconds,
            "s_per_step": seconds / len(timed), "padding_share": 1 - real_tokens / padded_tokens,
            "gflops": flops / seconds / 1e9, "peak_rss_mb": peak_rss_mb(),
            "batch": f"{config.per_device_train_batch_size}x{accum}",
            "threads": run.runtime.threads, "dtype": run.runtime.dtype}


def lora_layers(model) -> list[int]:
    import re

    found = {int(m.group(1)) for name, _ in model.named_parameters()
             if "lora_" in name and (m := re.search(r"layers\.(\d+)\.", name))}
    return sorted(found)


def lora_parameter_count(model) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "lora_" in name)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def smoke_model() -> Path:
    """A tiny random Llama with a byte-level ChatML tokenizer (the test suite's), built once."""
    sys.path.insert(0, str(ROOT / "test"))
    from tiny_models import make_tiny_adapter

    root = Path(tempfile.gettempdir()) / f"robot_sft_smoke_model_{os.getuid()}"
    if not (root / "base" / "config.json").is_file():
        make_tiny_adapter(root)
    return root / "base"


def report(results: list[dict], peaks: dict[str, float]) -> str:
    lines = [f"matmul peak on {results[0]['threads']} thread(s): "
             + ", ".join(f"{dtype} {gflops:.0f} GFLOP/s" for dtype, gflops in peaks.items())
             + " (a recipe's 'of peak' is against its dtype's)",
             f"{'recipe':<14}{'dtype':>9}{'batch':>7}{'tok/s':>9}{'ex/s':>8}{'s/step':>8}{'pad':>6}"
             f"{'GFLOP/s':>9}{'of peak':>9}{'RSS MB':>8}"]
    for r in results:
        lines.append(f"{r['recipe']:<14}{r['dtype']:>9}{r['batch']:>7}{r['tokens_per_s']:>9.0f}"
                     f"{r['examples_per_s']:>8.1f}"
                     f"{r['s_per_step']:>8.2f}{r['padding_share']:>6.0%}{r['gflops']:>9.1f}"
                     f"{r['gflops'] / peaks[r['dtype']]:>9.0%}{r['peak_rss_mb']:>8.0f}")
    by_name = {r["recipe"]: r for r in results}
    if "tutorial" in by_name:
        t = by_name["tutorial"]
        for p in results:
            if p is not t:
                lines.append(f"{p['recipe']} / tutorial: {p['tokens_per_s'] / t['tokens_per_s']:.2f}x "
                             f"non-pad tokens/s, {p['examples_per_s'] / t['examples_per_s']:.2f}x examples/s")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps per recipe")
    parser.add_argument("--warmup", type=int, default=2, help="untimed optimizer steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    parser.add_argument("--recipes", default="tutorial,project",
                        help=f"comma-separated, from: {', '.join(RECIPES)}")
    parser.add_argument("--smoke", action="store_true", help="tiny random model, 2+2 steps")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup = min(args.steps, 2), 1
    threads = args.threads or len(os.sched_getaffinity(0))
    if args.worker:  # child: one recipe, JSON on the last stdout line
        result = run_recipe(args.worker, args.steps, args.warmup, threads, args.smoke)
        print(json.dumps(result))
        return 0
    recipes = args.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        print(f"error: unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}",
              file=sys.stderr)
        return 2
    results = []
    for recipe in recipes:
        command = [sys.executable, __file__, "--worker", recipe, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--threads", str(threads)]
        command += ["--smoke"] if args.smoke else []
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            print(f"error: recipe {recipe} failed (exit {done.returncode})", file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    peaks = {dtype: matmul_peak_gflops(threads, dtype) for dtype in sorted({r["dtype"] for r in results})}
    print(report(results, peaks))
    if args.json:
        Path(args.json).write_text(json.dumps({"matmul_peak_gflops": peaks, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LoRA SFT of a small chat model on robot commands, with TRL's SFTTrainer.

    python -m training.train                        # embedded SmolLM2, fresh data -> outputs/embedded
    python -m training.train --config training/configs/tinyllama.yaml --model /models/TinyLlama
    python -m training.train --max_steps 5 --output_dir /tmp/run
    python -m training.train --resume               # after a crash: continue from the last checkpoint
    torchrun --nproc_per_node 2 -m training.train   # data parallel (gloo on CPU, nccl on CUDA)

Steps: config (training/config.py) -> data (generated, or a conversations file) ->
assistant-only tokenisation (training/masking.py) -> LoRA SFT (TRL) -> adapter,
tokenizer, model card, loss curve -> greedy evaluation on held-out paraphrases
(training/generation.py, training/metrics.py) -> robot_sft.json (robot_sft.adapter).
Known failures (bad config, data, model path, output dir) end with one line on
stderr and exit status 1 (2 for a bad command line).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from training.config import ConfigError, TrainConfig, parse_config

CHECKPOINT_PREFIX = "checkpoint-"


class TrainingError(RuntimeError):
    """A run that cannot go on (no usable data, unwritable output, ...); the message says why."""


# ------------------------------------------------------------------------------------------
# Environment: processes, device, dtype, threads
# ------------------------------------------------------------------------------------------

def world() -> tuple[int, int]:
    """(rank, world size) from torchrun / accelerate launch; (0, 1) when run alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    return world()[0] == 0


def say(message: str) -> None:
    if is_main_process():
        print(message, flush=True)


def resolve_device(config: TrainConfig) -> str:
    import torch

    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {config.device} requested but CUDA is not available; use --device cpu")
    return config.device


def resolve_dtype(config: TrainConfig, device: str, threads: int) -> str:
    """The configured dtype; for "auto": bf16 on CUDA, and on a CPU whichever of bf16
    autocast and fp32 a one-second probe on `threads` threads measures faster."""
    from robot_sft.models import default_dtype
    from training.cpu_dtype import choose_cpu_dtype, measure_bf16_speedup

    if config.dtype != "auto":
        return config.dtype
    if device != "cpu":
        return default_dtype(device)
    speedup = measure_bf16_speedup(threads)
    dtype = choose_cpu_dtype(speedup)
    say(f"dtype auto: bf16 autocast measured {speedup:.1f}x fp32 on this CPU -> {dtype}")
    return dtype


def resolve_attention(config: TrainConfig, device: str, dtype: str) -> str:
    if config.attn_implementation != "auto":
        return config.attn_implementation
    return "eager" if device == "cpu" and dtype == "bfloat16" else "sdpa"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
    if config.num_processes <= 1 or world()[1] > 1:
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
    """Run this same command as `torchrun --standalone --nproc_per_node N` and return its
    exit status. The checks that would fail in every worker (output dir, model path) run
    here first, and so does the one-time cache of the embedded model."""
    from robot_sft.models import resolve_model_path
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    prepare_output_dir(config)
    resolve_model_path(config.model)
    threads = threads_per_process(config, processes)
    dtype = resolve_dtype(config, resolve_device(config), threads)  # once: every rank the same
    say(f"starting {processes} data-parallel processes (torchrun --standalone)")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        torchrun(["--standalone", "--nproc_per_node", str(processes), "-m", "training.train",
                  *argv, "--num_processes", str(processes), "--dtype", dtype,
                  "--gradient_accumulation_steps", str(config.gradient_accumulation_steps)])
    except ChildFailedError:
        return 1  # each worker has printed its one-line error
    return 0


def set_threads(config: TrainConfig) -> int:
    """torch CPU threads: the configured number, else this machine's cores shared
    among the processes of this node (2 DDP processes on 2 cores -> 1 each)."""
    import torch

    threads = threads_per_process(config, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    torch.set_num_threads(threads)
    return threads


def threads_per_process(config: TrainConfig, processes: int) -> int:
    """The configured num_threads, else this machine's cores shared among `processes`."""
    return config.num_threads if config.num_threads > 0 else max(1, usable_cores() // processes)


# ------------------------------------------------------------------------------------------
# Output directory
# ------------------------------------------------------------------------------------------

def checkpoints(output_dir: Path) -> list[Path]:
    found = [p for p in output_dir.glob(CHECKPOINT_PREFIX + "*")
             if p.is_dir() and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def is_complete_checkpoint(path: Path) -> bool:
    """Trainer writes trainer_state.json after the weights, optimizer and RNG state: a
    run killed while saving leaves a checkpoint without it, which cannot be resumed."""
    return (path / "trainer_state.json").is_file()


def prepare_output_dir(config: TrainConfig) -> tuple[Path, str | None]:
    """Create and check the output directory before anything slow happens; return it and
    the checkpoint to resume from. A fresh run clears old checkpoints so a later
    --resume cannot pick up another run's state."""
    output_dir = Path(config.output_dir).expanduser()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"output directory {output_dir} is not writable: "
                            f"{exc.strerror or exc}") from exc
    found = checkpoints(output_dir)
    if config.resume:
        complete = [path for path in found if is_complete_checkpoint(path)]
        for path in found:
            if path not in complete:
                say(f"skipping {path}: incomplete (the run was killed while saving it)")
        if complete:
            say(f"resuming from {complete[-1]}")
            return output_dir, str(complete[-1])
        say(f"--resume: no complete checkpoint in {output_dir}, starting from scratch")
    elif found and is_main_process():
        say(f"removing {len(found)} old checkpoint(s) in {output_dir} (pass --resume to continue them)")
        for path in found:
            shutil.rmtree(path, ignore_errors=True)
    return output_dir, None


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------

def with_system_prompt(messages: list[dict], system_prompt: str) -> list[dict]:
    """The conversation with the configured system prompt, so training, evaluation and
    the robot (which reads it from robot_sft.json) all use the same one."""
    rest = messages[1:] if messages and messages[0].get("role") == "system" else messages
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return head + [dict(m) for m in rest]


def read_rows(source: str, data_format: str, split: str) -> list[dict]:
    from training.data.loaders import load_conversations

    try:
        return load_conversations(source, format=data_format, split=split)
    except FileNotFoundError as exc:
        raise TrainingError(str(exc)) from exc
    except ValueError as exc:  # a bad --data_format
        raise TrainingError(f"data {source}: {exc}") from exc


def excluded_commands(config: TrainConfig, paths=None) -> list[str]:
    """Commands the generated data must not contain, nor near-duplicates of: every
    evaluation set in test/data (`paths`, default training.data.exclusion.EVAL_SETS) when
    exclude_eval_commands is on. A pip-installed package has no test/data: then nothing
    is excluded and a note says so."""
    if not config.exclude_eval_commands or config.data:
        return []
    from training.data.exclusion import EVAL_SETS, eval_set_commands

    return eval_set_commands(EVAL_SETS if paths is None else paths, note=say)


def load_rows(config: TrainConfig) -> tuple[list[dict], list[dict], str]:
    """(train rows, held-out rows, description of the source)."""
    if config.data:
        train_rows, source = read_rows(config.data, config.data_format, "train"), config.data
    else:
        from training.data.generate import generate_dataset

        exclude = excluded_commands(config)
        splits = generate_dataset(n=config.num_examples, seed=config.data_seed,
                                  heldout_fraction=config.heldout_fraction, exclude=exclude)
        train_rows, source = splits["train"], (f"generated (n={config.num_examples}, "
                                               f"seed={config.data_seed}, "
                                               f"{len(exclude)} evaluation commands excluded)")
    if config.eval_data:
        heldout_rows = read_rows(config.eval_data, config.data_format, "heldout")
    else:
        heldout_rows = [] if config.data else splits["heldout"]
    if not train_rows:
        raise TrainingError(f"training data {source} holds no conversations")
    return train_rows, heldout_rows, source


def data_sha256(rows: list[dict]) -> str:
    """Fingerprint of exactly what was trained on (messages after the system prompt swap)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row["messages"], sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def build_train_dataset(rows: list[dict], tokenizer, config: TrainConfig, source: str):
    """Tokenised rows with assistant-only labels (or all-token labels) as a datasets.Dataset."""
    from training.masking import tokenize_dataset, to_sft_dataset

    tokenized, stats = tokenize_dataset(rows, tokenizer, config.max_length,
                                        last_turn_only=config.last_turn_only)
    if not tokenized:
        raise TrainingError(f"training data {source}: no conversation has an assistant answer within "
                            f"max_length={config.max_length} tokens ({stats.dropped_no_assistant} dropped)")
    if not config.assistant_only_loss:  # the tutorial's recipe: every token is a target
        tokenized = [{**row, "labels": list(row["input_ids"])} for row in tokenized]
    say(f"data: {stats}")
    return to_sft_dataset(tokenized), stats


# ------------------------------------------------------------------------------------------
# Model and trainer
# ------------------------------------------------------------------------------------------

def lora_config(config: TrainConfig, num_layers: int):
    from peft import LoraConfig

    layers = None
    if config.lora_last_layers > 0:
        first = max(0, num_layers - config.lora_last_layers)
        layers = list(range(first, num_layers))
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_target_modules), layers_to_transform=layers,
                      bias="none", task_type="CAUSAL_LM")


def sft_config(config: TrainConfig, output_dir: Path, device: str, dtype: str):
    from trl import SFTConfig

    cpu = device == "cpu"
    return SFTConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # < 1: a fraction of the steps (transformers 5)
        weight_decay=config.weight_decay,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        seed=config.seed,
        # TRL 1.x turns bf16 autocast and gradient checkpointing on by default: decide here.
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        gradient_checkpointing=config.gradient_checkpointing,
        use_cpu=cpu,
        ddp_backend="gloo" if cpu and world()[1] > 1 else None,
        ddp_find_unused_parameters=False,
        # Data is tokenised (and truncated) by training/masking.py: TRL takes it as is.
        max_length=config.max_length,
        dataset_kwargs={"skip_prepare_dataset": True},
        packing=False,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to="none",
        dataloader_num_workers=0,
    )


# ------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------

def last_user_message(row: dict) -> str:
    users = [m["content"] for m in row["messages"] if m.get("role") == "user"]
    if not users:
        raise TrainingError("a held-out row has no user message")
    return users[-1]


def sample_rows(rows: list[dict], count: int, seed: int) -> list[dict]:
    """`count` rows drawn reproducibly (all when count is 0 or too large)."""
    if count <= 0 or count >= len(rows):
        return list(rows)
    return random.Random(seed).sample(rows, count)


def evaluate_heldout(model, tokenizer, rows: list[dict], config: TrainConfig) -> dict:
    """Greedy answers to held-out commands, scored against their reference actions."""
    from training.generation import generate_responses
    from training.metrics import format_metrics, reference_actions, score_responses

    from robot_sft.response_format import ParseError

    scorable = [(row, reference_actions(row)) for row in rows]
    unscorable = sum(isinstance(ref, ParseError) for _, ref in scorable)
    scorable = [(row, ref) for row, ref in scorable if not isinstance(ref, ParseError)]
    if not scorable:
        return {}
    start = time.perf_counter()
    merged = hasattr(model, "merge_adapter")
    if merged:  # one matmul per layer instead of base + LoRA: faster generation
        model.merge_adapter()
    try:
        texts = generate_responses(model, tokenizer, [last_user_message(r) for r, _ in scorable],
                                   system_prompt=config.system_prompt,
                                   batch_size=config.eval_batch_size,
                                   max_new_tokens=config.max_new_tokens, progress=True)
    finally:
        if merged:
            model.unmerge_adapter()
    metrics = score_responses([ref for _, ref in scorable], texts,
                              [row.get("intent") for row, _ in scorable])
    metrics["eval_seconds"] = round(time.perf_counter() - start, 1)
    metrics["unscorable_references"] = unscorable
    say(format_metrics(metrics))
    return metrics


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------

@dataclass
class Run:
    """A training run, built and ready for trainer.train()."""

    config: TrainConfig
    device: str
    dtype: str
    threads: int
    output_dir: Path
    resume_from: str | None
    tokenizer: object
    train_rows: list[dict]
    heldout_rows: list[dict]
    stats: object  # training.masking.MaskingStats
    trainer: object  # trl.SFTTrainer
    started: float


def build_run(config: TrainConfig) -> Run:
    """Everything up to the first training step: device, output dir, data, model, trainer."""
    started = time.perf_counter()
    from robot_sft.models import load_model, load_tokenizer, resolve_model_path
    from training.chat_templates import apply_chat_template_choice

    device = resolve_device(config)
    threads = set_threads(config)
    dtype = resolve_dtype(config, device, threads)
    attention = resolve_attention(config, device, dtype)
    world_size = world()[1]
    say(f"robot_sft training: model {config.model} on {device} ({dtype}, {attention} attention, "
        f"{threads} CPU threads"
        f"{f' x {world_size} processes' if world_size > 1 else ''}) -> {config.output_dir}")
    # Cheap checks first: a bad path or data file fails in a second, not after model loading.
    output_dir, resume_from = prepare_output_dir(config)
    resolve_model_path(config.model)
    train_rows, heldout_rows, source = load_rows(config)
    train_rows = [{**row, "messages": with_system_prompt(row["messages"], config.system_prompt)}
                  for row in train_rows]
    tokenizer = apply_chat_template_choice(load_tokenizer(config.model), config.chat_template)
    dataset, stats = build_train_dataset(train_rows, tokenizer, config, source)

    from trl import SFTTrainer  # heavy: only once the inputs are known to be good

    # device="cpu": the Trainer moves it to its device
    model = load_model(config.model, dtype=dtype, device="cpu", attn_implementation=attention)
    say(f"loaded {config.model} in {time.perf_counter() - started:.1f} s")
    if config.assistant_only_loss:
        project_labelled_positions_only()
    if device == "cpu" and dtype == "bfloat16":
        bf16_lm_head_gradient_on_cpu()
    trainer = SFTTrainer(model=model, args=sft_config(config, output_dir, device, dtype),
                         train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora_config(config, model.config.num_hidden_layers))
    if is_main_process():
        trainer.model.print_trainable_parameters()
    return Run(config, device, dtype, threads, output_dir, resume_from, tokenizer, train_rows,
               heldout_rows, stats, trainer, started)


def project_labelled_positions_only() -> None:
    """Compute logits only where there is a label.

    TRL's fused LM head projects hidden states onto the vocabulary only at positions
    with a label when it runs on CUDA/XPU, and at every position elsewhere (a fixed
    shape avoids recompilation on Neuron). On CPU with an assistant-only loss ~80 % of
    positions have no label, and the 576 x 49152 projection is ~20 % of a step, so
    projecting only labelled positions makes CPU steps ~15 % faster with the same
    loss and gradients (test_train.py checks this). TRL picks the path with
    `trl.trainer.utils._use_triton(device)`; the torch kernel handles both shapes.
    """
    import trl.trainer.utils as trl_utils

    if getattr(trl_utils, "_use_triton", None) is not None and \
            not getattr(trl_utils._use_triton, "robot_sft", False):
        def compact_everywhere(device) -> bool:
            return True

        compact_everywhere.robot_sft = True
        trl_utils._use_triton = compact_everywhere


def bf16_lm_head_gradient_on_cpu() -> None:
    """Let the LM head's backward GEMM run in bf16 on a CPU.

    TRL's chunked log-prob kernel sums the hidden-state gradient over vocabulary chunks
    with `_addmm_fp32`, which on CUDA is a bf16 GEMM with an fp32 output and elsewhere
    upcasts both operands (the 49152 x 576 head included) and runs an fp32 GEMM: on an
    AVX512-BF16 CPU that was ~12 % of a bf16 step. Here the GEMM runs in bf16 (fp32
    accumulation inside oneDNN) and each chunk's product is added to the fp32 sum: one
    rounding per chunk (two for SmolLM2's vocabulary), as plain autocast rounds the whole
    product once. test_train.py checks the gradients against the upcast path.
    """
    import torch
    import trl.kernels.chunked_logprob as kernel

    upcast = kernel._addmm_fp32
    if getattr(upcast, "robot_sft", False):
        return

    def addmm_fp32(acc, a, b) -> None:
        if acc.device.type == "cpu" and a.dtype == b.dtype == torch.bfloat16:
            acc.add_(torch.mm(a, b))
        else:
            upcast(acc, a, b)

    addmm_fp32.robot_sft = True
    kernel._addmm_fp32 = addmm_fp32


def base_model_id(name: str) -> str:
    """How robot_sft.json names the base model: "embedded", a hub id, or an absolute path
    (so the adapter still finds a local base model when used from another directory)."""
    from robot_sft.models import is_embedded

    path = Path(name).expanduser()
    return str(path.resolve()) if not is_embedded(name) and path.is_dir() else name


def finish(run: Run, result) -> dict:
    """Save the adapter, evaluate (main process), write card, curve and metadata."""
    from robot_sft.adapter import AdapterMetadata, write_metadata
    from robot_sft.models import EMBEDDED_NAME, is_embedded
    from training.model_card import plot_loss_curve, write_model_card

    config, trainer, output_dir = run.config, run.trainer, run.output_dir
    trainer.save_model(str(output_dir))  # adapter + tokenizer (with its chat template)
    metrics = {"train_loss": result.training_loss, "train_steps": result.global_step,
               "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
               "train_examples": run.stats.kept, "train_tokens": run.stats.total_tokens,
               "device": run.device, "dtype": run.dtype, "threads": run.threads,
               "world_size": world()[1]}
    if is_main_process():
        if config.eval_samples >= 0 and run.heldout_rows:
            if run.device == "cpu" and config.num_threads <= 0:
                import torch

                torch.set_num_threads(usable_cores())  # the other ranks wait: use their cores
            eval_rows = sample_rows(run.heldout_rows, config.eval_samples, config.seed)
            metrics["heldout"] = evaluate_heldout(trainer.model, run.tokenizer, eval_rows, config)
        metrics["wall_seconds"] = round(time.perf_counter() - run.started, 1)
        plot_loss_curve(trainer.state.log_history, output_dir)
        card_base = f"HuggingFaceTB/{EMBEDDED_NAME}" if is_embedded(config.model) else config.model
        write_model_card(output_dir, base_model=card_base, chat_template=config.chat_template,
                         system_prompt=config.system_prompt, config=config.to_dict(), metrics=metrics)
        write_metadata(output_dir, AdapterMetadata(
            base_model=base_model_id(config.model), system_prompt=config.system_prompt,
            chat_template=config.chat_template, data_sha256=data_sha256(run.train_rows),
            config=config.to_dict(), metrics=metrics,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z")))
        if not config.keep_checkpoints:
            for path in checkpoints(output_dir):
                shutil.rmtree(path, ignore_errors=True)
        say(f"adapter written to {output_dir} in {metrics['wall_seconds']:.0f} s")
    trainer.accelerator.wait_for_everyone()
    return metrics


def train(config: TrainConfig) -> dict:
    """One training run; returns the final metrics (also stored in robot_sft.json)."""
    run = build_run(config)
    result = run.trainer.train(resume_from_checkpoint=run.resume_from)
    return finish(run, result)


def known_errors() -> tuple[type[BaseException], ...]:
    """Failures with a message meant for the user (no traceback)."""
    from robot_sft.adapter import AdapterError
    from robot_sft.models import ModelLoadError
    from training.chat_templates import ChatTemplateError

    from training.data.loaders import DatasetFormatError

    return (ConfigError, TrainingError, ModelLoadError, ChatTemplateError, AdapterError,
            DatasetFormatError)


def main(argv=None) -> int:
    # transformers 5 renamed gradient_checkpointing, which TRL 1.x still sets: not the user's concern.
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated",
                            category=FutureWarning)
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        processes, config = plan_processes(config)
        if processes > 1:
            return launch_data_parallel(config, processes, argv)
        train(config)
    except known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

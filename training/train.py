"""LoRA SFT of a small chat model on robot commands, with TRL's SFTTrainer.

    python -m training.train                        # embedded SmolLM2, fresh data -> outputs/embedded
    python -m training.train --config training/configs/tinyllama.yaml --model /models/TinyLlama
    python -m training.train --max_steps 5 --output_dir /tmp/run
    python -m training.train --resume               # after a crash: newest loadable checkpoint
    torchrun --nproc_per_node 2 -m training.train   # data parallel (gloo on CPU, nccl on CUDA)
    accelerate launch --config_file training/configs/accelerate/fsdp.yaml -m training.train ...

Reads top to bottom: config (training/config.py) -> where and how this process runs
(training/runtime.py; training/launch.py starts the data-parallel workers) -> output dir
and the checkpoint to resume (training/checkpoints.py) -> data (training/datasets.py) ->
assistant-only tokenisation (training/masking.py) -> model -> SFTTrainer -> train ->
adapter, tokenizer, model card, loss curve -> greedy evaluation on held-out paraphrases
-> robot_sft.json (robot_sft.adapter). Every config value reaches TRL through one
function, `training_arguments`. Known failures (bad config, data, model path, output
dir) end with one line on stderr and exit status 1 (2 for a bad command line).
"""
from __future__ import annotations

import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from training.config import ConfigError, TrainConfig, parse_config
from training.errors import TrainingError
from training.runtime import Runtime, is_main_process, resolve_runtime, say, usable_cores


# ------------------------------------------------------------------------------------------
# Config -> PEFT and TRL arguments (the one path from a config value to the trainer)
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


def loraplus_optimizer(model, config: TrainConfig, runtime: Runtime):
    """LoRA+: AdamW whose B matrices learn `loraplus_lr_ratio` times faster than the A matrices
    (B starts at zero, so a larger step there learns the new features sooner). The Trainer
    keeps it (it builds an optimizer only when it has none) and schedules each group's rate."""
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(model=model, optimizer_cls=torch.optim.AdamW,
                                     lr=config.scaled_learning_rate(runtime.world_size),
                                     loraplus_lr_ratio=config.loraplus_lr_ratio,
                                     weight_decay=config.weight_decay, fused=True)


def training_arguments(config: TrainConfig, runtime: Runtime, output_dir: Path):
    """TRL's SFTConfig for this config on this runtime."""
    from trl import SFTConfig

    liger = config.use_liger_kernel and not runtime.cpu
    if config.use_liger_kernel and runtime.cpu:
        say("note: use_liger_kernel needs CUDA and triton: off on this CPU")
    if liger:
        import importlib.util

        if importlib.util.find_spec("liger_kernel") is None:
            raise TrainingError("use_liger_kernel needs the liger-kernel package: pip install liger-kernel")
    return SFTConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.scaled_learning_rate(runtime.world_size),
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # < 1: a fraction of the steps (transformers 5)
        weight_decay=config.weight_decay,
        optim="adamw_torch_fused",  # one kernel for all LoRA tensors (CPU and CUDA)
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        seed=config.seed,
        # TRL 1.x turns bf16 autocast and gradient checkpointing on by default: decide here.
        bf16=runtime.dtype == "bfloat16",
        fp16=runtime.dtype == "float16",  # autocast + the Trainer's loss scaling
        tf32=True if runtime.tf32 else None,
        gradient_checkpointing=config.gradient_checkpointing,
        use_liger_kernel=liger,
        torch_compile=config.torch_compile,
        use_cpu=runtime.cpu,
        ddp_backend="gloo" if runtime.cpu and runtime.world_size > 1 else None,
        ddp_find_unused_parameters=False,
        # Data is tokenised (and truncated) by training/masking.py: TRL takes it as is. TRL
        # refuses a max_length with padding-free batches; the rows are already cut to it.
        max_length=None if config.padding_free else config.max_length,
        dataset_kwargs={"skip_prepare_dataset": True},
        packing=False,
        padding_free=config.padding_free,
        pad_to_multiple_of=config.pad_to_multiple_of or None,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to="none",
        dataloader_num_workers=0,  # collation is microseconds per batch: workers only cost start-up
    )


# ------------------------------------------------------------------------------------------
# Data and evaluation
# ------------------------------------------------------------------------------------------

def build_train_dataset(rows: list[dict], tokenizer, config: TrainConfig, source: str):
    """Tokenised rows with assistant-only labels (or all-token labels) as a datasets.Dataset."""
    from training.masking import tokenize_dataset, to_sft_dataset

    # With the loss on answers only, a row ends at its last label (see tokenize_conversation).
    tokenized, stats = tokenize_dataset(rows, tokenizer, config.max_length,
                                        last_turn_only=config.last_turn_only,
                                        drop_unlabelled_tail=config.assistant_only_loss)
    if not tokenized:
        raise TrainingError(f"training data {source}: no conversation has an assistant answer within "
                            f"max_length={config.max_length} tokens ({stats.dropped_no_assistant} dropped)")
    if not config.assistant_only_loss:  # the tutorial's recipe: every token is a target
        tokenized = [{**row, "labels": list(row["input_ids"])} for row in tokenized]
    say(f"data: {stats}")
    return to_sft_dataset(tokenized), stats


def evaluate_heldout(model, tokenizer, rows: list[dict], config: TrainConfig) -> dict:
    """Greedy answers to held-out commands, scored against their reference actions."""
    from robot_sft.response_format import ParseError
    from training.datasets import last_user_message
    from training.generation import generate_responses
    from training.metrics import format_metrics, reference_actions, score_responses

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
    runtime: Runtime
    output_dir: Path
    resume_from: str | None
    tokenizer: object
    train_rows: list[dict]
    heldout_rows: list[dict]
    stats: object  # training.masking.MaskingStats
    trainer: object  # trl.SFTTrainer
    started: float


def build_run(config: TrainConfig) -> Run:
    """Everything up to the first training step: runtime, output dir, data, model, trainer."""
    started = time.perf_counter()
    from robot_sft.models import load_model, load_tokenizer, resolve_model_path
    from training.chat_templates import apply_chat_template_choice
    from training.checkpoints import prepare_output_dir
    from training.datasets import load_rows, with_system_prompts

    runtime = resolve_runtime(config)
    # Cheap checks first: a bad path or data file fails in a second, not after model loading.
    output_dir, resume_from = prepare_output_dir(config)
    resolve_model_path(config.model)
    train_rows, heldout_rows, source = load_rows(config)
    train_rows = with_system_prompts(train_rows, config.system_prompt)
    tokenizer = apply_chat_template_choice(load_tokenizer(config.model), config.chat_template)
    dataset, stats = build_train_dataset(train_rows, tokenizer, config, source)

    from trl import SFTTrainer  # heavy: only once the inputs are known to be good

    from training.trl_patches import bf16_lm_head_gradient_on_cpu, project_labelled_positions_only

    # device="cpu": the Trainer moves it to its device
    model = load_model(config.model, dtype=runtime.dtype, device="cpu",
                       attn_implementation=runtime.attention)
    say(f"loaded {config.model} in {time.perf_counter() - started:.1f} s")
    if config.assistant_only_loss:
        project_labelled_positions_only()
    if runtime.cpu and runtime.dtype == "bfloat16":
        bf16_lm_head_gradient_on_cpu()
    trainer = SFTTrainer(model=model, args=training_arguments(config, runtime, output_dir),
                         train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora_config(config, model.config.num_hidden_layers))
    if config.loraplus_lr_ratio > 0:
        trainer.optimizer = loraplus_optimizer(trainer.model, config, runtime)
    if is_main_process():
        trainer.model.print_trainable_parameters()
    return Run(config, runtime, output_dir, resume_from, tokenizer, train_rows, heldout_rows,
               stats, trainer, started)


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
    from training.checkpoints import checkpoints
    from training.datasets import (HELDOUT_FILE, data_sha256, rows_to_items, sample_rows,
                                   write_heldout_items)
    from training.model_card import plot_loss_curve, write_model_card

    config, runtime, trainer, output_dir = run.config, run.runtime, run.trainer, run.output_dir
    trainer.save_model(str(output_dir))  # adapter + tokenizer (with its chat template)
    metrics = {"train_loss": result.training_loss, "train_steps": result.global_step,
               "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
               "train_examples": run.stats.kept, "train_tokens": run.stats.total_tokens,
               "device": runtime.device, "dtype": runtime.dtype, "threads": runtime.threads,
               "world_size": runtime.world_size}
    # The last collective: from here on the main process works alone (evaluation can take
    # longer than the process group's 30-minute timeout on a busy machine; a barrier after
    # it killed a run there), and the other ranks are done.
    trainer.accelerator.wait_for_everyone()
    if is_main_process():
        if run.heldout_rows:  # heldout:ADAPTER reads these, whatever the generator becomes
            write_heldout_items(rows_to_items(run.heldout_rows), output_dir / HELDOUT_FILE)
        if config.eval_samples >= 0 and run.heldout_rows:
            if runtime.cpu and config.num_threads <= 0:
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
    from training.launch import launch_data_parallel, plan_processes

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

"""The training configuration: one dataclass, YAML files, command-line overrides.

    python -m training.train                                   # the embedded default
    python -m training.train --config training/configs/tinyllama.yaml --model /models/tinyllama
    python -m training.train --max_steps 5 --output_dir /tmp/run --resume

Precedence: dataclass defaults < YAML file (--config) < command line. Every field
is a command-line option of the same name. Unknown keys and values of the wrong
type are errors (ConfigError) whose message names the key and the valid choices,
so a typo in a YAML file cannot silently train with a default.

Pure: no torch. The defaults are the embedded recipe (training/configs/embedded.yaml
restates them), tuned to reach >= 95 % exact action accuracy on held-out phrasings
within 10 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTENTION = ("auto", "eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr")
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and what is valid."""


def option(default, help: str, **kwargs):
    """A config field with its help text: --help and docs/training.md's table read it."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class TrainConfig:
    # --- base model and prompt -------------------------------------------------------------
    model: str = option("embedded", "\"embedded\" (SmolLM2-135M-Instruct), a local model directory, or a hub id")
    chat_template: str = option("chatml", "tokenizer | chatml | zephyr | llama2 | llama3 | a Jinja string | a .jinja file")
    system_prompt: str = option("", "System turn of every conversation; empty = none. Every prompt token costs "
                                    "training time; robot_sft.json records it, so the robot prompts as in training")
    device: str = option("auto", "auto (cuda if available, else cpu) | cpu | cuda | cuda:N | mps")
    dtype: str = option("auto", "auto: CUDA bf16 from compute capability 8.0, fp16 with loss scaling below; "
                                "CPU bf16 autocast when a 1 s probe measures it >= 1.3x fp32, else fp32")
    attn_implementation: str = option("auto", "auto: eager on a CPU in bf16 (faster on short rows), sdpa elsewhere; "
                                              "or eager | sdpa | flash_attention_2 | flash_attention_3 | flex_attention")
    num_threads: int = option(0, "torch CPU threads per process; 0 = this machine's cores shared among the processes")
    num_processes: int = option(2, "Data-parallel processes `python -m training.train` starts itself (torchrun "
                                   "--standalone): capped by cores (CPU) or GPUs, gradient accumulation keeps the "
                                   "global batch; ignored under torchrun / accelerate launch")
    accelerate_config: str = option("", "Start those processes with `accelerate launch --config_file` this file "
                                        "(training/configs/accelerate/ddp.yaml, fsdp.yaml); empty = torchrun (DDP)")

    # --- data ---------------------------------------------------------------------------------
    data: str = option("", "Conversations file or directory; empty = generate fresh robot data")
    data_format: str = option("auto", "Format of --data / --eval_data (training.data.loaders)")
    eval_data: str = option("", "Held-out conversations; empty = the generated held-out split")
    num_examples: int = option(3000, "Generated conversations (train + held-out)")
    heldout_fraction: float = option(0.15, "Share of paraphrase templates held out of training")
    data_seed: int = option(0, "Seed of the data generator")
    exclude_eval_commands: bool = option(True, "Keep the hand-written evaluation commands out of generated data "
                                               "(a command trained on verbatim scores memory, not skill)")
    max_length: int = option(96, "Tokens per conversation (longer ones are cut); rows are ~20-70 without a system prompt")
    assistant_only_loss: bool = option(True, "Loss on the assistant's answers only; false = every token (the tutorial)")
    last_turn_only: bool = option(False, "Multi-turn rows: train only the last answer")

    # --- LoRA ---------------------------------------------------------------------------------
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = option(0.0, "LoRA dropout (0.1 made CPU steps about twice as slow)")
    lora_target_modules: list[str] = option(ALL_LINEAR, "Adapted linear layers (YAML list or comma-separated)")
    lora_last_layers: int = option(0, "Adapt only the top N decoder layers (backward stops there); 0 = all")
    loraplus_lr_ratio: float = option(0.0, "LoRA+ (PEFT's create_loraplus_optimizer): the B matrices learn this many "
                                           "times faster than the A matrices (learning_rate); 0 = plain LoRA")

    # --- optimisation -------------------------------------------------------------------------
    learning_rate: float = option(2e-3, "Peak learning rate (for a global batch of lr_base_batch rows, if set)")
    lr_base_batch: int = option(0, "Global batch (rows) learning_rate is tuned for; > 0 scales it to the actual "
                                   "global batch by the square-root rule: lr x sqrt(global / lr_base_batch)")
    lr_scheduler_type: str = option("cosine", "linear | cosine | constant | constant_with_warmup | cosine_with_min_lr")
    warmup_ratio: float = option(0.05, "Warm-up as a fraction of the steps")
    weight_decay: float = option(0.0, "AdamW weight decay")
    per_device_train_batch_size: int = option(8, "Rows per process per micro-batch (x processes x accumulation = "
                                                 "the global batch)")
    gradient_accumulation_steps: int = option(1, "Micro-batches per optimizer step; raise only when memory needs it")
    num_train_epochs: float = option(3.0, "Passes over the training rows")
    max_steps: int = option(-1, "> 0 overrides num_train_epochs")
    group_by_length: bool = option(True, "Batches of similar length: little padding")
    padding_free: bool = option(False, "Flatten each micro-batch into one sequence told apart by position_ids: no "
                                       "padding, no cross-row attention (tested). Pays with flash_attention_2/3 "
                                       "(varlen kernels); sdpa/eager build a dense mask over the whole micro-batch")
    pad_to_multiple_of: int = option(0, "Pad micro-batches to a multiple of this many tokens (fewer distinct shapes "
                                        "for GPU kernel selection and the allocator); 0 = to the longest row")
    gradient_checkpointing: bool = option(False, "Recompute activations in the backward pass (memory for time)")
    use_liger_kernel: bool = option(False, "TRL's Liger layer kernels (RMSNorm, SwiGLU, RoPE; needs CUDA, triton "
                                           "and liger-kernel); TRL's own fused LM head already does the loss")
    torch_compile: bool = option(False, "torch.compile the model (opt-in: slower on a 2-core CPU, measured; GPU not measured)")
    seed: int = option(42, "Seed of LoRA initialisation, data order and dropout")

    # --- logging, checkpoints, output ---------------------------------------------------------
    output_dir: str = option("outputs/embedded", "Where the adapter, model card and robot_sft.json go")
    logging_steps: int = option(5, "Log the loss every N steps")
    save_steps: int = option(50, "Checkpoint every N steps (for --resume)")
    save_total_limit: int = option(2, "Checkpoints kept while training")
    resume: bool = option(False, "Continue from the newest loadable checkpoint in output_dir")
    keep_checkpoints: bool = option(False, "Keep output_dir/checkpoint-* after a successful run")

    # --- held-out evaluation ------------------------------------------------------------------
    eval_samples: int = option(0, "Held-out rows scored at the end; 0 = all (~490, ~45 s), -1 = skip")
    eval_batch_size: int = option(32, "Rows per generate() batch in that evaluation")
    max_new_tokens: int = option(64, "Token budget of each evaluated answer")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def global_batch(self, processes: int) -> int:
        """Rows per optimizer step over all processes."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * processes

    def scaled_learning_rate(self, processes: int) -> float:
        """learning_rate, scaled to the global batch when lr_base_batch is set: by its square
        root, the rule for Adam-type optimisers (the gradient noise falls with sqrt(batch);
        linear scaling is SGD's rule and overshoots with Adam at large batches)."""
        if self.lr_base_batch <= 0:
            return self.learning_rate
        return self.learning_rate * (self.global_batch(processes) / self.lr_base_batch) ** 0.5


# ------------------------------------------------------------------------------------------
# Validation and coercion (one place for YAML and command-line values)
# ------------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def field_types() -> dict[str, type]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def _valid_keys() -> str:
    return ", ".join(f.name for f in dataclasses.fields(TrainConfig))


def coerce(key: str, value, hint):
    """`value` (from YAML or a command-line string) as the field's type, or ConfigError."""
    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"config key {key!r}: expected {expected}, got {value!r}")

    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise wrong("true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise wrong("an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise wrong("a number")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise wrong("a string")
    if typing.get_origin(hint) is list:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise wrong("a list of strings (YAML list or comma-separated)")
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _check_choices(config: TrainConfig) -> None:
    def check(key, allowed):
        value = getattr(config, key)
        if value not in allowed:
            raise ConfigError(f"config key {key!r}: {value!r} is not one of {', '.join(allowed)}")

    check("dtype", DTYPES)
    check("attn_implementation", ATTENTION)
    check("lr_scheduler_type", SCHEDULERS)
    device = config.device.split(":")[0]
    if device not in DEVICES:
        raise ConfigError(f"config key 'device': {config.device!r} is not one of {', '.join(DEVICES)} "
                          f"(or cuda:N)")
    positive = ("max_length", "lora_r", "lora_alpha", "per_device_train_batch_size", "num_processes",
                "gradient_accumulation_steps", "logging_steps", "save_steps", "eval_batch_size",
                "max_new_tokens", "num_examples")
    for key in positive:
        if getattr(config, key) <= 0:
            raise ConfigError(f"config key {key!r}: must be positive, got {getattr(config, key)!r}")
    for key in ("pad_to_multiple_of", "lr_base_batch"):
        if getattr(config, key) < 0:
            raise ConfigError(f"config key {key!r}: must be 0 or more, got {getattr(config, key)!r}")
    if not 0.0 <= config.lora_dropout < 1.0:
        raise ConfigError(f"config key 'lora_dropout': must be in [0, 1), got {config.lora_dropout!r}")
    if not 0.0 < config.heldout_fraction < 1.0:
        raise ConfigError(f"config key 'heldout_fraction': must be in (0, 1), got {config.heldout_fraction!r}")
    if config.learning_rate <= 0:
        raise ConfigError(f"config key 'learning_rate': must be positive, got {config.learning_rate!r}")
    if config.max_steps <= 0 and config.num_train_epochs <= 0:
        raise ConfigError("set max_steps or num_train_epochs to a positive value")
    if not config.lora_target_modules:
        raise ConfigError("config key 'lora_target_modules': name at least one module")
    if config.accelerate_config and not Path(config.accelerate_config).is_file():
        raise ConfigError(f"config key 'accelerate_config': {config.accelerate_config} does not exist")
    if not config.output_dir.strip():
        raise ConfigError("config key 'output_dir': must not be empty")


def from_dict(values: dict, base: TrainConfig | None = None, source: str = "config") -> TrainConfig:
    """`base` (default: the dataclass defaults) with `values` applied, validated."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of config keys, got {type(values).__name__}")
    types = field_types()
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(f"{source}: unknown config key(s) {', '.join(map(str, unknown))}; "
                          f"valid keys: {_valid_keys()}")
    updates = {key: coerce(key, value, types[key]) for key, value in values.items()}
    config = dataclasses.replace(base or TrainConfig(), **updates)
    _check_choices(config)
    return config


def load_yaml(path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {str(exc).splitlines()[0]}") from exc
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping of config keys")
    return values


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit 2; we want one line
        raise ConfigError(message)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m training.train", allow_abbrev=False,
                     description="LoRA SFT of a small chat model on robot commands (TRL).")
    parser.add_argument("--config", help="YAML file with config keys (command-line options win)")
    for item in dataclasses.fields(TrainConfig):
        key, hint = item.name, field_types()[item.name]
        default = getattr(TrainConfig(), key)
        kwargs = {"dest": key, "default": argparse.SUPPRESS,
                  "help": f"{item.metadata['help']} (default: {default!r})".replace("%", "%%")}
        if hint is bool:  # `--resume` alone means true; `--resume false` also works
            kwargs.update(nargs="?", const="true", metavar="BOOL")
        parser.add_argument(f"--{key}", **kwargs)
    return parser


def parse_config(argv=None) -> TrainConfig:
    """Command line (with an optional --config YAML) -> validated TrainConfig."""
    parser = make_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        names = [arg.split("=")[0] for arg in unknown if arg.startswith("-")] or unknown
        raise ConfigError(f"unknown option(s) {' '.join(names)}; valid options: --config, "
                          + ", ".join(f"--{f.name}" for f in dataclasses.fields(TrainConfig)))
    overrides = vars(args)
    config_path = overrides.pop("config", None)
    config = TrainConfig()
    if config_path:
        config = from_dict(load_yaml(config_path), config, source=str(config_path))
    return from_dict(overrides, config, source="command line")


def config_table() -> str:
    """docs/training.md's table of every key, generated from the dataclass (test_train_config
    fails when the docs differ; `python -m training.config --markdown` prints it)."""
    lines = ["| key | default | what it does |", "|---|---|---|"]
    for item in dataclasses.fields(TrainConfig):
        default = getattr(TrainConfig(), item.name)
        shown = ", ".join(default) if isinstance(default, list) else repr(default)
        lines.append(f"| `{item.name}` | `{shown}` | {item.metadata['help'].replace('|', '/')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m training.config --markdown")
    print(config_table())

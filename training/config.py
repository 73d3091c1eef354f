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
ATTENTION = ("auto", "eager", "sdpa")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr")
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and what is valid."""


@dataclass
class TrainConfig:
    # --- base model and prompt -------------------------------------------------------------
    model: str = "embedded"            # "embedded" (SmolLM2-135M-Instruct), a local dir, or a hub id
    chat_template: str = "chatml"      # tokenizer | chatml | zephyr | llama2 | llama3 | Jinja | .jinja file
    # Empty: no system turn. The adapter learns the task; every prompt token costs training
    # time (the default robot prompt would double the tokens per example). robot_sft.json
    # records it, so the robot prompts exactly as in training.
    system_prompt: str = ""
    device: str = "auto"               # auto -> cuda if available, else cpu
    # auto -> bfloat16 on CUDA; on a CPU, bfloat16 when a one-second probe measures bf16
    # autocast >= 1.3x faster than fp32 there (AVX512-BF16/AMX), else float32.
    dtype: str = "auto"
    # auto -> eager on a CPU in bf16 (torch's CPU flash-attention backward in bf16 made a
    # step 16 % slower on 20-70-token rows), sdpa elsewhere.
    attn_implementation: str = "auto"
    num_threads: int = 0               # CPU threads for torch; 0 = all cores of this process
    # Data-parallel processes started by `python -m training.train` itself (torchrun
    # --standalone underneath): on a CPU, 2 one-thread processes train ~1.4x faster than
    # one two-thread process (measured). Capped by cores (CPU) or GPUs; a cap raises
    # gradient_accumulation_steps so the global batch stays the same. Ignored under torchrun.
    num_processes: int = 2

    # --- data ---------------------------------------------------------------------------------
    data: str = ""                     # conversations file/dir; empty = generate fresh robot data
    data_format: str = "auto"          # passed to training.data.loaders.load_conversations
    eval_data: str = ""                # held-out conversations; empty = the generated held-out split
    num_examples: int = 3000           # generated conversations (train + held-out)
    heldout_fraction: float = 0.15
    data_seed: int = 0
    # Keep the hand-written evaluation commands (test/data/handwritten_commands.jsonl) out
    # of generated data: a command trained on verbatim would score memory, not skill.
    exclude_eval_commands: bool = True
    max_length: int = 96               # tokens; without a system prompt rows are ~20-70 (measured)
    assistant_only_loss: bool = True   # False = loss on every token (the tutorial)
    last_turn_only: bool = False       # multi-turn rows: train only the last answer

    # --- LoRA ---------------------------------------------------------------------------------
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: list(ALL_LINEAR))
    lora_last_layers: int = 0          # adapt only the top N decoder layers (backward stops there); 0 = all

    # --- optimisation -------------------------------------------------------------------------
    learning_rate: float = 2e-3
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    per_device_train_batch_size: int = 8  # x num_processes = a global batch of 16
    gradient_accumulation_steps: int = 1
    num_train_epochs: float = 3.0
    max_steps: int = -1                # > 0 overrides num_train_epochs
    group_by_length: bool = True       # batches of similar length: less padding
    gradient_checkpointing: bool = False
    seed: int = 42

    # --- logging, checkpoints, output ---------------------------------------------------------
    output_dir: str = "outputs/embedded"
    logging_steps: int = 5
    save_steps: int = 50
    save_total_limit: int = 2
    resume: bool = False               # continue from the last checkpoint in output_dir
    keep_checkpoints: bool = False     # keep output_dir/checkpoint-* after a successful run

    # --- held-out evaluation ------------------------------------------------------------------
    eval_samples: int = 0              # held-out rows scored at the end; 0 = all (~490, ~45 s), -1 = skip
    eval_batch_size: int = 32
    max_new_tokens: int = 64

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    for key, hint in field_types().items():
        default = getattr(TrainConfig(), key)
        kwargs = {"dest": key, "default": argparse.SUPPRESS,
                  "help": f"default: {default!r}" if key != "system_prompt" else "default: the robot prompt"}
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

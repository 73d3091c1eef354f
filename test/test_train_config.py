"""Training config: defaults < YAML < command line; unknown keys and wrong types are errors."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.config import ConfigError, TrainConfig, coerce, field_types, load_yaml, parse_config

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def write_yaml(tmp_path, text: str) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def cli_text(value) -> str:
    """A field value as it is written on the command line."""
    return ",".join(value) if isinstance(value, list) else str(value)


def test_no_arguments_give_the_defaults():
    assert parse_config([]) == TrainConfig()


@pytest.mark.parametrize("name", ["embedded", "embedded-gpu", "tinyllama", "tutorial"])
def test_shipped_configs_parse(name):
    config = parse_config(["--config", str(CONFIGS / f"{name}.yaml")])
    assert config.output_dir == f"outputs/{name}"


def test_embedded_yaml_restates_the_defaults():
    """`python -m training.train` and `--config embedded.yaml` must train the same thing."""
    assert parse_config(["--config", str(CONFIGS / "embedded.yaml")]) == TrainConfig()


def test_tutorial_yaml_is_the_tutorials_recipe():
    config = parse_config(["--config", str(CONFIGS / "tutorial.yaml")])
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.05)
    assert config.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (4, 4)
    assert (config.learning_rate, config.lr_scheduler_type, config.max_length) == (2e-4, "cosine", 512)
    assert not config.assistant_only_loss
    # pinned, not measured: the tutorial's precision class on a CPU (see tutorial.yaml)
    assert (config.dtype, config.attn_implementation) == ("float32", "sdpa")


def test_command_line_beats_yaml_beats_defaults(tmp_path):
    path = write_yaml(tmp_path, "max_steps: 7\nlearning_rate: 1e-3\nlora_r: 4\n")
    config = parse_config(["--config", path, "--max_steps", "5"])
    assert config.max_steps == 5            # command line
    assert config.learning_rate == 1e-3     # YAML (PyYAML reads 1e-3 as a string)
    assert config.lora_r == 4
    assert config.seed == TrainConfig().seed  # default


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainConfig)])
def test_every_field_is_a_command_line_option(field):
    default = getattr(TrainConfig(), field)
    config = parse_config([f"--{field}", cli_text(default)])
    assert getattr(config, field) == default


@pytest.mark.parametrize("argv, field, expected", [
    (["--resume"], "resume", True),
    (["--resume", "true"], "resume", True),
    (["--resume", "false"], "resume", False),
    (["--resume", "no"], "resume", False),
    (["--group_by_length", "0"], "group_by_length", False),
])
def test_boolean_options(argv, field, expected):
    assert getattr(parse_config(argv), field) is expected


def test_lists_from_yaml_and_command_line(tmp_path):
    path = write_yaml(tmp_path, "lora_target_modules: [q_proj, v_proj]\n")
    assert parse_config(["--config", path]).lora_target_modules == ["q_proj", "v_proj"]
    assert parse_config(["--lora_target_modules", "q_proj,o_proj"]).lora_target_modules == \
        ["q_proj", "o_proj"]


@pytest.mark.parametrize("argv, words", [
    (["--max_step", "5"], ["--max_step", "valid options", "--max_steps"]),
    (["--max_steps", "five"], ["max_steps", "integer", "five"]),
    (["--learning_rate", "fast"], ["learning_rate", "number"]),
    (["--resume", "maybe"], ["resume", "true or false"]),
    (["--dtype", "fp8"], ["dtype", "float32"]),
    (["--attn_implementation", "flash"], ["attn_implementation", "eager", "sdpa"]),
    (["--device", "tpu"], ["device", "cpu"]),
    (["--lr_scheduler_type", "zigzag"], ["lr_scheduler_type", "cosine"]),
    (["--lora_r", "0"], ["lora_r", "positive"]),
    (["--lora_dropout", "1.5"], ["lora_dropout"]),
    (["--config", "/nonexistent/run.yaml"], ["/nonexistent/run.yaml", "does not exist"]),
])
def test_bad_command_lines_name_the_problem(argv, words):
    with pytest.raises(ConfigError) as error:
        parse_config(argv)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("text, words", [
    ("max_stepz: 5\n", ["max_stepz", "valid keys", "max_steps"]),
    ("max_steps: 2.5\n", ["max_steps", "integer"]),
    ("resume: 3\n", ["resume", "true or false"]),
    ("lora_target_modules: 5\n", ["lora_target_modules", "list"]),
    ("model: [a, b]\n", ["model", "string"]),
    ("- just\n- a list\n", ["mapping"]),
    ("max_steps: [\n", ["cannot be read"]),
])
def test_bad_yaml_files_name_the_problem(tmp_path, text, words):
    with pytest.raises(ConfigError) as error:
        parse_config(["--config", write_yaml(tmp_path, text)])
    for word in words:
        assert word in str(error.value)


def test_empty_yaml_file_means_defaults(tmp_path):
    assert load_yaml(write_yaml(tmp_path, "")) == {}
    assert parse_config(["--config", write_yaml(tmp_path, "# nothing\n")]) == TrainConfig()


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_integers_round_trip_through_text(number):
    assert coerce("seed", str(number), field_types()["seed"]) == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_through_text(number):
    assert coerce("weight_decay", repr(number), field_types()["weight_decay"]) == number


@given(st.booleans() | st.none() | st.lists(st.integers()))
def test_non_integers_are_refused_for_integer_fields(value):
    with pytest.raises(ConfigError):
        coerce("max_steps", value, int)


# ---------------------------------------------------------------- evaluation commands kept out

def test_default_run_excludes_every_evaluation_command():
    from training.data.exclusion import EVAL_SETS, read_commands
    from training.datasets import excluded_commands

    commands = [c for path in EVAL_SETS for c in read_commands(path)]
    assert TrainConfig().exclude_eval_commands
    assert excluded_commands(TrainConfig()) == commands and len(commands) >= 38 + 650


@pytest.mark.parametrize("exclude, leaked", [(False, True), (True, False)])
def test_generated_training_data_leaks_only_without_the_exclusion(exclude, leaked):
    """Without the exclusion the default data holds evaluation commands or near-duplicates
    of them. The tutorial's own five examples stay in train by design
    (robot_sft.tutorial.SEED_EXAMPLES)."""
    from training.data.exclusion import NearDuplicates, eval_set_commands
    from training.data.generate import SEED_EXAMPLES, normalise_command
    from training.datasets import load_rows

    evaluation = NearDuplicates(eval_set_commands())
    seeds = {normalise_command(command) for command, _, _ in SEED_EXAMPLES}
    train, heldout, source = load_rows(TrainConfig(exclude_eval_commands=exclude))
    generated = [m["content"] for row in train + heldout for m in row["messages"]
                 if m["role"] == "user" and normalise_command(m["content"]) not in seeds]
    assert any(c in evaluation for c in generated) == leaked
    assert (f" {len(eval_set_commands())} evaluation commands excluded" in source) == exclude


@pytest.mark.parametrize("values", [{"exclude_eval_commands": False}, {"data": "rows.jsonl"}])
def test_nothing_is_excluded_when_off_or_for_a_data_file(values):
    from training.datasets import excluded_commands

    assert excluded_commands(TrainConfig(**values)) == []


def test_a_missing_evaluation_file_is_skipped_with_a_note(tmp_path, capsys):
    from training.datasets import excluded_commands

    assert excluded_commands(TrainConfig(), [tmp_path / "handwritten_commands.jsonl"]) == []
    assert "are not excluded" in capsys.readouterr().out


# ---------------------------------------------------------------- one place for help and docs

def test_docs_config_table_is_generated_from_the_dataclass():
    """docs/training.md's key table is config_table()'s output: edit the field's help, then
    paste `python -m training.config --markdown` into the docs."""
    from training.config import config_table

    docs = (CONFIGS.parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    assert config_table() in docs, "docs/training.md's table differs: python -m training.config --markdown"


def test_every_field_has_help_shown_by_help():
    from training.config import make_parser

    text = " ".join(make_parser().format_help().split())
    for item in dataclasses.fields(TrainConfig):
        assert item.metadata.get("help"), item.name
        assert " ".join(item.metadata["help"].split())[:40] in text, item.name

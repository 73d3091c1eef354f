"""The data sets of training and evaluation, in one place: what is trained on, what is held
out, and the two hand-made test sets.

  load_rows(config)        train rows and held-out rows of a run: generated fresh (the
                           generator's held-out split = paraphrase templates never trained
                           on) or read from --data / --eval_data in any loader format
  heldout_items(values)    that held-out split again: the adapter's heldout_commands.jsonl,
                           or regenerated from its recorded config
  load_handwritten()       test/data/handwritten_commands.jsonl: commands typed the way
                           people type them (never trained on, nor is the independent
                           set: excluded_commands)
  load_independent()       test/data/independent_commands.jsonl: 650 commands in 130
                           paraphrase groups of 5 styles, written apart from the templates
                           (test/data/INDEPENDENT_SET.md)

train.py and evaluate.py both import this module and not each other. Pure: no torch.
"""
from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from robot_sft.response_format import ParseError, action_from_dict, intent_of
from training.config import TrainConfig
from training.errors import TrainingError
from training.runtime import say

TEST_DATA = Path(__file__).resolve().parents[1] / "test" / "data"
HANDWRITTEN = TEST_DATA / "handwritten_commands.jsonl"
INDEPENDENT = TEST_DATA / "independent_commands.jsonl"


@dataclass(frozen=True)
class Item:
    """One command to answer and what the answer should be."""

    command: str
    expected: list
    label: str                  # expected intent
    over_limits: bool = False   # copied quantities the planner must refuse
    group: str = ""             # independent set: the paraphrase group (same expected list)
    style: str = ""             # independent set: terse, spoken, formal, long-winded, non-native


# ------------------------------------------------------------------------------ test sets

def numbered_jsonl(path) -> list[tuple[int, dict]]:
    """(line number, object) for each JSON object a line, blank lines skipped; a bad line is
    a ValueError naming the file and the line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path} line {number}: expected a JSON object")
            rows.append((number, row))
    return rows


def _jsonl(path) -> list[dict]:
    return [row for _, row in numbered_jsonl(path)]


def load_items(path) -> list[Item]:
    """Commands with expected actions, one JSON object a line (command, expected, intent,
    over_limits): the hand-written set, and the held-out rows an adapter keeps. A row
    without those keys, or with an action that does not exist, is a ValueError naming it."""
    items = []
    for number, r in numbered_jsonl(path):
        try:
            items.append(Item(r["command"], [action_from_dict(a) for a in r["expected"]], r["intent"],
                              bool(r.get("over_limits"))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} line {number}: not a command with expected actions "
                             f"({type(exc).__name__}: {exc})") from None
    return items


def load_handwritten(path=HANDWRITTEN) -> list[Item]:
    return load_items(path)


def load_independent(path=INDEPENDENT) -> list[Item]:
    return [Item(r["command"], [action_from_dict(a) for a in r["expected"]], r["intent"],
                 bool(r.get("over_limits")), r["group"], r["style"]) for r in _jsonl(path)]


def sample_rows(rows: list, count: int, seed: int) -> list:
    """`count` rows drawn reproducibly (all when count is 0 or too large)."""
    if count <= 0 or count >= len(rows):
        return list(rows)
    return random.Random(seed).sample(rows, count)


# ------------------------------------------------------------------------------ training rows

def with_system_prompts(rows: list[dict], system_prompt: str) -> list[dict]:
    """Rows as trained on (with_system_prompt on each): what data_sha256 fingerprints."""
    return [{**row, "messages": with_system_prompt(row["messages"], system_prompt)} for row in rows]


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
    evaluation set in test/data (`paths`, default training.data.exclusion.EVAL_SETS: the
    hand-written and the independent set) when exclude_eval_commands is on. A
    pip-installed package has no test/data: then nothing is excluded and a note says so."""
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


def last_user_message(row: dict) -> str:
    users = [m["content"] for m in row["messages"] if m.get("role") == "user"]
    if not users:
        raise TrainingError("a held-out row has no user message")
    return users[-1]


HELDOUT_FILE = "heldout_commands.jsonl"  # in an adapter directory: its run's held-out rows


def rows_to_items(rows: list[dict]) -> list[Item]:
    """Held-out conversations as scorable items (rows whose reference does not parse are left out)."""
    from training.metrics import reference_actions

    items = []
    for row in rows:
        expected = reference_actions(row)
        if not isinstance(expected, ParseError):
            items.append(Item(last_user_message(row), expected, row.get("intent") or intent_of(expected),
                              row.get("category") == "over_limit"))
    return items


def write_heldout_items(items: list[Item], path: Path) -> None:
    """The held-out commands with their expected actions, one JSON object a line (the format
    `python -m training.evaluate --commands FILE` reads)."""
    from robot_sft.response_format import action_to_dict

    with open(path, "w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps({"command": item.command, "intent": item.label,
                                  "over_limits": item.over_limits,
                                  "expected": [action_to_dict(a) for a in item.expected]},
                                 ensure_ascii=False) + "\n")


def heldout_items(config_values: dict, adapter_dir=None, trained_sha256: str = "") -> list[Item]:
    """The held-out split as a run drew it: read from the adapter directory's
    heldout_commands.jsonl where training wrote one, otherwise regenerated from the config its
    adapter recorded (same config, same generator seed). A generator changed since that run
    draws other rows: then the recorded fingerprint of the training rows differs, and this
    says so (the figures are for another held-out set)."""
    from training.config import from_dict

    stored = Path(adapter_dir) / HELDOUT_FILE if adapter_dir else None
    if stored is not None and stored.is_file():
        return load_items(stored)
    # An adapter trained before exclude_eval_commands existed drew its data without it.
    config = from_dict({"exclude_eval_commands": False, **(config_values or {})},
                       source="adapter metadata")
    train_rows, rows, _ = load_rows(config)
    if trained_sha256 and not config.data and \
            data_sha256(with_system_prompts(train_rows, config.system_prompt)) != trained_sha256:
        print(f"note: the data generator has changed since {adapter_dir or 'this adapter'} was "
              f"trained (its data_sha256 differs): these held-out rows are the ones this code "
              f"draws from its config, not the ones its run held out", file=sys.stderr, flush=True)
    return rows_to_items(rows)

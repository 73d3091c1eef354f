"""Evaluation commands, and their near-duplicates, never enter the training data.

The hand-written, the independent and the two outside sets in test/data measure how the model reads
commands the generator did not shape; one of them (or a near copy) in the training data
would measure memory instead. The generator therefore drops every command that is a
near-duplicate of an evaluation command:

- equal after `normalise_command` (case, punctuation), or
- token-set Jaccard >= 0.9 after masking numbers ("#" for digits and number words).

Why these choices: masking numbers makes "drive forward 3 m" a copy of "drive forward 2 m",
since a phrasing with another number teaches exactly the phrasing the test measures. With
0.9, commands of up to nine distinct tokens must have the same token set (any word order)
to match, and longer ones may differ by one added or dropped word; a substituted word
("left" for "right", "meters" for "feet") is a different command (a 10-token set with one
substitution scores 9/11 = 0.82). A lower threshold starts to exclude short commands that
merely share the common words of the domain ("turn", "left", "degrees").

Pure Python: reads JSONL files with a "command" field.
"""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

from training.data.numbers import mask_numbers

TEST_DATA = Path(__file__).resolve().parents[2] / "test" / "data"
# Every command file in test/data that measures the model; all are kept out by default.
EVAL_SETS = tuple(TEST_DATA / name for name in (
    "handwritten_commands.jsonl", "independent_commands.jsonl", "outside_a_commands.jsonl",
    "outside_b_commands.jsonl"))
JACCARD = 0.9


def read_commands(path) -> list[str]:
    """The "command" field of every row of a JSONL file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["command"] for line in f if line.strip()]


def eval_set_commands(paths=EVAL_SETS, note=print) -> list[str]:
    """The commands of every evaluation set that exists. A pip-installed package has no
    test/data: a missing file is skipped with a note, never silently."""
    commands = []
    for path in map(Path, paths):
        if path.is_file():
            commands += read_commands(path)
        else:
            note(f"note: {path} not found (package installed without its tests): its "
                 f"commands are not excluded from the generated data")
    return commands


def normalise_command(text: str) -> str:
    """Dedup key: lower case, punctuation dropped (decimal points kept)."""
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text.lower())
    return " ".join(re.sub(r"[^\w/.']+", " ", text).split())


def _tokens(text: str) -> frozenset[str]:
    return frozenset(mask_numbers(normalise_command(text)).split())


class NearDuplicates:
    """`command in NearDuplicates(banned)`: is it a near-duplicate of a banned command?"""

    def __init__(self, commands=(), threshold: float = JACCARD):
        self.threshold = threshold
        self.exact = {normalise_command(c) for c in commands}
        self.by_size = defaultdict(list)  # Jaccard >= t needs sizes within a factor t
        for c in commands:
            tokens = _tokens(c)
            self.by_size[len(tokens)].append(tokens)

    def __len__(self) -> int:
        return len(self.exact)

    def __contains__(self, command: str) -> bool:
        if normalise_command(command) in self.exact:
            return True
        tokens = _tokens(command)
        n, t = len(tokens), self.threshold
        for size in range(math.ceil(n * t), math.floor(n / t) + 1):
            for other in self.by_size.get(size, ()):
                inter = len(tokens & other)
                if inter and inter >= t * (n + size - inter):
                    return True
        return False


def jaccard(a: str, b: str) -> float:
    """Token-set Jaccard of two commands, numbers masked (what `NearDuplicates` uses)."""
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


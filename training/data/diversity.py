"""How many ways the data says the same thing: distinct surface forms per meaning.

A model that saw one phrasing per meaning learns the phrasing, not the meaning; the
outside-set failures of issue 12 (same meaning, five phrasings, different plans) are that.
This counts, over generated rows,

- per *meaning* (the same action list, i.e. the same rendered target), the distinct
  commands (after `normalise_command`);
- per *skeleton* (the target with every number masked: "Move forward # m."), the distinct
  phrasings with every number masked too, so "drive 2 m" and "drive 3 m" count once.

- per skeleton, the distinct word bigrams (numbers masked) per row: how much wording
  varies within a meaning.

Both generators emit a distinct command per row (rows are de-duplicated), so the form
counts grow with the rows a meaning gets; the bigram figure is the one that tells a
generator that rephrases from one that re-fills the same sentences. In the generator's
stats.json, and printed by `python -m training.data.diversity DIR` for a generated
directory. Pure Python.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from training.data.exclusion import normalise_command
from training.data.numbers import mask_numbers

def _command(row: dict) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def _target(row: dict) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "assistant")


def forms_per_meaning(rows: list[dict], skeleton: bool = False) -> dict[str, int]:
    """{meaning: number of distinct surface forms} over `rows`."""
    forms = defaultdict(set)
    for row in rows:
        meaning, command = _target(row), normalise_command(_command(row))
        if skeleton:
            meaning, command = mask_numbers(meaning), mask_numbers(command)
        forms[meaning].add(command)
    return {meaning: len(commands) for meaning, commands in forms.items()}


def bigrams_per_row(rows: list[dict], min_rows: int = 5) -> float:
    """Mean over skeleton meanings with >= `min_rows` rows of (distinct bigrams / rows)."""
    bigrams, sizes = defaultdict(set), defaultdict(int)
    for row in rows:
        words = mask_numbers(normalise_command(_command(row))).split()
        meaning = mask_numbers(_target(row))
        bigrams[meaning] |= set(zip(words, words[1:]))
        sizes[meaning] += 1
    ratios = [len(bigrams[m]) / sizes[m] for m in sizes if sizes[m] >= min_rows]
    return round(statistics.fmean(ratios), 2) if ratios else 0.0


def summary(rows: list[dict], min_rows: int = 5) -> dict:
    """Per kind of meaning (exact, skeleton): how many meanings, and over the meanings
    drawn at least `min_rows` times (so a rare meaning does not count as 'one form' just
    because it was drawn once) the mean forms per meaning and the forms per row (1.0: no
    two rows of a meaning are phrased alike)."""
    out = {"rows": len(rows)}
    for name, skeleton in (("exact", False), ("skeleton", True)):
        counts = forms_per_meaning(rows, skeleton)
        sizes = defaultdict(int)
        for row in rows:
            sizes[mask_numbers(_target(row)) if skeleton else _target(row)] += 1
        frequent = [m for m in counts if sizes[m] >= min_rows]
        forms = [counts[m] for m in frequent]
        out[name] = {"meanings": len(counts), f"with_{min_rows}_rows": len(frequent),
                     "mean_forms": round(statistics.fmean(forms), 2) if forms else 0.0,
                     "median_forms": statistics.median(forms) if forms else 0,
                     "forms_per_row": round(sum(forms) / sum(sizes[m] for m in frequent), 3)
                     if forms else 0.0}
    out["skeleton"]["bigrams_per_row"] = bigrams_per_row(rows, min_rows)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+",
                        help="generated data: a directory with train.jsonl and heldout.jsonl, or "
                             "JSONL files")
    args = parser.parse_args(argv)
    splits = {}
    for source in map(Path, args.data):
        for path in sorted(source.glob("*.jsonl")) if source.is_dir() else [source]:
            splits[path.stem] = [json.loads(line) for line in path.read_text(
                encoding="utf-8").splitlines() if line.strip()]
    for split, rows in [("all", [r for s in splits.values() for r in s]), *splits.items()]:
        s = summary(rows)
        print(f"{split}: {s['rows']} rows")
        for name in ("exact", "skeleton"):
            print(f"  {name:8s} " + ", ".join(f"{k} {v}" for k, v in s[name].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

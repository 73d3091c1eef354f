"""Synthetic robot-command SFT data: commands people send -> canonical action targets.

    python -m training.data.generate --out data/robot_commands --n 5000 --seed 0

Every target is written by `render_response` from the actions the command asks for,
copying number, unit, direction and place from the command (copy, don't compute: "3 feet"
-> Move(3, "ft"), "clockwise" -> negative angle, "back up" -> negative distance). The
behaviour for each kind of command is docs/command-policy.md.

Two sources of rows:
- motion (moves, turns with and without an angle, named turns, timed motions, speed +
  duration, sequences) and the refused motions (unbounded, unsupported) are *composed*
  from components by `compose.py`, in six styles;
- stop, navigation, status, shapes and the other refusals (unsafe speed words,
  injection, other languages, unclear, non-driving requests) come from the paraphrase
  templates of `templates.py`, their motion slots filled by the composer.

Held-out split: composed rows by component (`compose.split_components`: a held-out row
uses a component no train row uses), template rows by template id (`split_templates`).
Commands of the evaluation sets in test/data, and their near-duplicates, never appear
(`exclusion.py`). Deterministic for a seed.

Row fields: messages (system, user, assistant), intent (`intent_of(actions)`), category
(the generator category below), actions (`action_to_dict`), template_id (a template id,
or "compose/" + the component ids), style, split. Pure Python: no torch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from robot_sft.response_format import (
    DEFAULT_SYSTEM_PROMPT, REFUSAL_REASONS, RESPONSE_FORMAT_VERSION, SHAPE_SIDES, Navigate, Refuse,
    Shape, Status, Stop, action_to_dict, intent_of, render_response,
)
from robot_sft.grounding import check_grounding
from robot_sft.tutorial import SEED_EXAMPLES  # the tutorial's five, always in train
from training.data import compose as C, templates as T
from training.data.exclusion import NearDuplicates, eval_set_commands, normalise_command
from training.data.exclusion import read_commands as read_command_field
from training.data.noise import add_typo, casing
from training.data.numbers import say_number, say_quantity
from training.data.sampling import pick, sample_distance

__all__ = ["generate_dataset", "write_dataset", "normalise_command", "add_typo", "SEED_EXAMPLES"]

# Share of generated rows per category (normalised). Motion is about half, refusals about
# a quarter (a fifth of the sequences are refused too), so the model sees every behaviour
# often.
CATEGORY_WEIGHTS = {
    "move": 0.12, "turn": 0.08, "turn_default": 0.05, "turn_named": 0.03, "timed_move": 0.06,
    "timed_turn": 0.03, "sequence": 0.18, "shape": 0.03, "stop": 0.045, "navigate": 0.07,
    "status_battery": 0.03, "status_obstacles": 0.03,
    "refuse_unsupported": 0.03, "refuse_unsupported_motion": 0.05, "refuse_unsafe_speed": 0.025,
    "refuse_unbounded": 0.05, "refuse_injection": 0.03, "refuse_language": 0.025,
    "refuse_unclear": 0.03,
    "over_limit": 0.035,  # copied targets the planner must refuse (zero motion)
}
# Categories composed by compose.Composer (category -> clause kind).
COMPOSED = {"move": "move", "turn": "turn", "turn_default": "default_turn",
            "turn_named": "named_turn", "timed_move": "timed_move", "timed_turn": "timed_turn",
            "sequence": "sequence", "refuse_unbounded": "unbounded",
            "refuse_unsupported_motion": "unsupported"}
# Stop and status rows said in a composed style as well ("Please have the robot come to a
# complete stop. Thank you!"): as template rows alone they are short, while the long-winded
# and formal rows were all motions and refusals, and every draw refused long-winded stops as
# unbounded motion. Not navigation: a draw with styled navigation rows answered HuRIC's
# chores ("bring the mug to the kitchen") with the place alone (HuRIC 70.9 %, 80.8 without).
STYLED_TEMPLATES = ("stop", "status_battery", "status_obstacles")
STYLED_SHARE = 0.35
REFUSAL_CATEGORIES = {f"refuse_{key}": key for key in REFUSAL_REASONS} | {
    "refuse_unsupported_motion": "unsupported"}
# Over-limit rows: these composed motions with out-of-limit quantities.
OVER_LIMIT_BASES = {"move": 0.5, "turn": 0.15, "timed_move": 0.25, "timed_turn": 0.1}
MAX_WORDS = 24          # template commands stay short: training speed matters
POLITE_PROB = 0.3
TYPO_PROB = 0.12


@dataclass(frozen=True)
class Template:
    id: str
    category: str
    text: str
    extra: object = None  # (sides, sign) of a shape


def all_templates() -> dict[str, list[Template]]:
    out = {}
    for category, entries in T.TEMPLATES.items():
        out[category] = []
        for i, entry in enumerate(entries):
            text, *extra = entry if isinstance(entry, tuple) else (entry,)
            extra = None if not extra else extra[0] if len(extra) == 1 else tuple(extra)
            out[category].append(Template(f"{category}/{i:02d}", category, text, extra))
    return out


def split_templates(seed: int = 0, heldout_fraction: float = 0.15) -> dict[str, set[str]]:
    """Template ids per split: per category, the ids whose seeded hash ranks lowest are
    held out (at least one per category, at least one left for training)."""
    held = set()
    for category, templates in all_templates().items():
        ranked = sorted(templates, key=lambda t: hashlib.sha256(f"{seed}:{t.id}".encode()).digest())
        k = min(max(1, round(len(ranked) * heldout_fraction)), len(ranked) - 1)
        held.update(t.id for t in ranked[:k])
    every = {t.id for ts in all_templates().values() for t in ts}
    return {"train": every - held, "heldout": held}


def check_copied(command: str, actions, category: str) -> None:
    """Every number in the target is said in the command; shapes and named turns carry
    fixed angles (`compose.check_copied`)."""
    C.check_copied(command, actions, named=category in ("shape", "turn_named", "turn_default"))


# --------------------------------------------------------------------------
# Template rows
# --------------------------------------------------------------------------

def _place(rng) -> tuple[str, str]:
    """(phrase in the command, place name in the target)."""
    if rng.random() < 0.25:
        name = rng.choice(T.NUMBERED_PLACES).format(
            n=rng.randint(1, 450), k=rng.randint(1, 12), letter=rng.choice("abcdef"))
        return name, name
    name, article = rng.choice(T.PLACES)
    return (f"the {name}" if article and rng.random() < 0.85 else name), name


def _gibberish(rng) -> str:
    rows = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    row = rng.choice(rows)
    start = rng.randrange(len(row) - 3)
    return row[start:start + rng.randint(3, 7)] * rng.choice([1, 1, 2])


class _Builder:
    """Rows of the template categories of one split. `words` is a train-split composer:
    direction words and motion clauses inside templates never use held-out components."""

    def __init__(self, rng: random.Random, split_ids: set[str], words: C.Composer):
        self.rng = rng
        self.words = words
        self.templates = {c: [t for t in ts if t.id in split_ids]
                          for c, ts in all_templates().items()}

    def template(self, category: str) -> Template:
        return self.rng.choice(self.templates[category])

    def clause(self, category: str, tpl: Template | None = None):
        tpl = tpl or self.template(category)
        text, actions = getattr(self, f"_{category}")(tpl)
        check_copied(text, actions, category)
        return tpl, text, actions

    def _shape(self, tpl):
        rng = self.rng
        sides, sign = tpl.extra
        unit = pick(rng, {"m": 5, "cm": 2, "ft": 2})
        value = rng.choice({"m": [0.5, 1, 1, 1.5, 2, 3], "cm": [30, 50, 75, 100],
                            "ft": [1, 2, 3, 5]}[unit])
        for _ in range(20):  # never "a a metre square", "a half a metre pentagon"
            text = tpl.text.format(dist=say_quantity(value, unit, rng))
            if not re.search(r"\ban? (?:an?|half) ", text):
                break
        name = next(name for name, n in SHAPE_SIDES.items() if n == sides)
        return text, [Shape(name, value, unit, sign)]  # code computes the turns, not the model

    def _stop(self, tpl):
        return tpl.text, [Stop()]

    def _navigate(self, tpl):
        phrase, name = _place(self.rng)
        return tpl.text.format(place=phrase), [Navigate(name)]

    def _status_battery(self, tpl):
        return tpl.text, [Status("battery")]

    def _status_obstacles(self, tpl):
        return tpl.text, [Status("obstacles")]

    def motion(self, kind: str) -> str:
        """A plain motion clause for {motion} slots (no pace or speed of its own)."""
        self.words.style, self.words.used = "plain", []
        return self.words.clause(kind, prob=0.0).text

    def refusal(self, category: str):
        rng, words = self.rng, self.words
        tpl = self.template(category)
        words.style = "plain"
        slots = {"fwd": words.pick("FORWARD"),
                 "ldir": words.pick("FORWARD" if rng.random() < 0.65 else "BACKWARD"),
                 "adir": words.pick("LEFT" if rng.random() < 0.5 else "RIGHT"),
                 "obj": rng.choice(T.OBJECTS), "gib": _gibberish(rng),
                 "n": rng.choice([1, 2, 3, 5, 10, 20, 30, 45, 90]),
                 "dist": say_quantity(*sample_distance(rng), rng)}
        if category == "refuse_unclear":  # a bare number: a distance without a unit
            slots["n"] = say_number(rng.choice([1, 2, 3, 5, 10, 0.5, 20]), rng, words=0.3)
        elif category == "refuse_unsafe_speed":
            slots["n"] = rng.choice([20, 30, 50, 80, 100, 120, 200])
        elif category == "refuse_injection":
            slots["n"] = rng.randint(1000, 9999)
        if "{motion}" in tpl.text:
            slots["motion"] = self.motion(pick(rng, {"move": 6, "turn": 3, "timed_move": 2}))
        return tpl, tpl.text.format(**slots), [Refuse(REFUSAL_REASONS[REFUSAL_CATEGORIES[category]])]


def dress(text: str, category: str, rng, words: C.Composer, protected=frozenset()) -> str:
    """Politeness, typos, casing and end punctuation of a template row, as people type."""
    if category in T.VERBATIM_CATEGORIES:
        return text[0].upper() + text[1:] if rng.random() < 0.3 else text
    question = category in T.QUESTION_CATEGORIES
    polite_question = False
    if not question and rng.random() < POLITE_PROB:
        if rng.random() < 0.6:
            prefix = words.pick("PREAMBLE")
            polite_question = prefix.lower().startswith(("could", "can", "would"))
            text = prefix + text
        else:
            text = text + words.pick("SUFFIX")
    elif question and rng.random() < 0.35:
        if rng.random() < 0.6:
            text = rng.choice(T.QUESTION_PREFIXES) + text
        else:
            text = text + rng.choice(T.QUESTION_SUFFIXES)
    if rng.random() < TYPO_PROB:
        text = add_typo(text, rng, protected)
    roll = rng.random()
    shout = 0.3 if category == "stop" else 0.04
    if roll < shout:
        return text.upper() + rng.choice(["!", "!!", "!!!", ""] if category == "stop" else ["", "!"])
    if roll < shout + 0.3:
        text = text[0].upper() + text[1:]
    else:
        text = casing(text, rng, C.DIRECTION_WORDS)
    if question or polite_question:
        return text + ("?" if rng.random() < 0.6 else "")
    return text + rng.choice(["", "", "", ".", ".", "!"] if category != "stop" else ["", "!", "."])


# --------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------

def make_row(command: str, actions, category: str, template_id: str, split: str,
             style: str = "template") -> dict:
    return {
        "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                     {"role": "user", "content": command},
                     {"role": "assistant", "content": render_response(actions)}],
        "intent": intent_of(actions),
        "category": category,
        "actions": [action_to_dict(a) for a in actions],
        "template_id": template_id,
        "style": style,
        "split": split,
    }


def seed_examples() -> list[dict]:
    """The tutorial's five instructions, always in the training split."""
    return [make_row(command, actions, category, f"seed/{i}", "train")
            for i, (command, category, actions) in enumerate(SEED_EXAMPLES)]


class _Split:
    """The template builder and the composer of one split."""

    def __init__(self, rng, split: str, template_ids: set[str], heldout: frozenset[str]):
        words = C.Composer(rng, heldout, new=False)  # template slots: train components only
        self.builder = _Builder(rng, template_ids, words)
        self.composer = C.Composer(rng, heldout, new=split == "heldout",
                                   template_clause=self.template_clause)

    def template_clause(self, category: str):
        tpl, text, actions = self.builder.clause(category)
        return tpl.id, text, actions


def generate_dataset(n: int = 5000, seed: int = 0, heldout_fraction: float = 0.15,
                     exclude=None) -> dict[str, list[dict]]:
    """`n` rows in all (the five seed examples included), split into train and heldout.
    Deterministic for a seed. `exclude`: commands never to emit, nor any near-duplicate
    of them (`exclusion.NearDuplicates`); None (the default) = the evaluation sets in
    test/data (`exclusion.EVAL_SETS`)."""
    if n < len(SEED_EXAMPLES):
        raise ValueError(f"n must be at least {len(SEED_EXAMPLES)}")
    if not 0 < heldout_fraction < 1:
        raise ValueError("heldout_fraction must be between 0 and 1")
    rng = random.Random(seed)
    template_splits = split_templates(seed, heldout_fraction)
    heldout = C.split_components(seed, heldout_fraction) | template_splits["heldout"]
    splits = {split: _Split(rng, split, ids, heldout) for split, ids in template_splits.items()}
    place_words = frozenset(w for name, _ in T.PLACES for w in name.split())
    banned = NearDuplicates(eval_set_commands() if exclude is None else exclude)
    rows = {"train": seed_examples(), "heldout": []}
    seen = {normalise_command(c) for c, _, _ in SEED_EXAMPLES}
    weights = dict(CATEGORY_WEIGHTS)
    misses = Counter()
    while sum(map(len, rows.values())) < n and weights:
        category = pick(rng, weights)
        split = "heldout" if rng.random() < heldout_fraction else "train"
        part = splits[split]
        style = "template"
        styled = category in STYLED_TEMPLATES and rng.random() < STYLED_SHARE
        if category in COMPOSED or category == "over_limit" or styled:
            over = category == "over_limit"
            kind = pick(rng, OVER_LIMIT_BASES) if over else COMPOSED.get(category, category)
            command, clause = part.composer.command(kind, over=over)
            actions, style = clause.actions, part.composer.style
            template_id = "compose/" + "+".join(part.composer.used)
            row_category = f"refuse_{clause.refusal}" if clause.refusal and category == "sequence" \
                else category
            if row_category == "refuse_unsupported":
                row_category = "refuse_unsupported_motion"
        else:
            if category in REFUSAL_CATEGORIES:
                tpl, text, actions = part.builder.refusal(category)
            else:
                tpl, text, actions = part.builder.clause(category)
            command = dress(text, category, rng, part.builder.words, place_words | C.PROTECTED)
            template_id, row_category = tpl.id, category
            if len(command.split()) > MAX_WORDS:
                misses[category] += 1
                continue
        key = normalise_command(command)
        # A row the robot's own check (dropped quantities included) refuses would teach a
        # reply the robot never carries out (two named turns read as one, "a metre sides" of
        # a "five-sided shape"): drawn again, so every generated answer is one the node accepts.
        if key in seen or command in banned or check_grounding(command, actions):
            misses[category] += 1
            if misses[category] > 300:  # this category's phrasings are used up
                del weights[category]
            continue
        seen.add(key)
        rows[split].append(make_row(command, actions, row_category, template_id, split, style))
    return rows


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_dataset(splits: dict[str, list[dict]], out_dir, extra_stats: dict | None = None) -> dict:
    """out_dir/{train,heldout}.jsonl and stats.json; returns {name: path}."""
    from training.data.diversity import summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, stats = {}, {"response_format_version": RESPONSE_FORMAT_VERSION, **(extra_stats or {}),
                        "splits": {}}
    for split, rows in splits.items():
        path = out / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths[split] = path
        stats["splits"][split] = {
            "rows": len(rows), "sha256": file_sha256(path),
            "templates": len({r["template_id"] for r in rows}),
            "intents": dict(sorted(Counter(r["intent"] for r in rows).items())),
            "categories": dict(sorted(Counter(r["category"] for r in rows).items())),
            "styles": dict(sorted(Counter(r.get("style", "template") for r in rows).items())),
            "forms_per_meaning": summary(rows),
        }
    paths["stats"] = out / "stats.json"
    paths["stats"].write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return paths


def read_commands(path) -> list[str]:
    """Commands of a JSONL file with a "command" field or chat messages (for --exclude)."""
    from training.data.loaders import load_conversations

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if rows and all("command" in r for r in rows):
        return read_command_field(path)
    return [m["content"] for r in load_conversations(str(path)) for m in r["messages"]
            if m["role"] == "user"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/robot_commands", help="output directory")
    parser.add_argument("--n", type=int, default=5000, help="rows in all (train + heldout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout-fraction", type=float, default=0.15)
    parser.add_argument("--exclude", action="append", default=[], metavar="JSONL",
                        help="also never emit these commands or near-duplicates; repeatable "
                             "(the evaluation sets in test/data always are)")
    parser.add_argument("--no-eval-exclude", action="store_true",
                        help="do not exclude the evaluation sets in test/data")
    args = parser.parse_args(argv)
    exclude = [] if args.no_eval_exclude else eval_set_commands()
    exclude += [c for path in args.exclude for c in read_commands(path)]
    splits = generate_dataset(args.n, args.seed, args.heldout_fraction, exclude)
    paths = write_dataset(splits, args.out, {"n": args.n, "seed": args.seed,
                                             "heldout_fraction": args.heldout_fraction,
                                             "excluded_commands": len(exclude)})
    stats = json.loads(paths["stats"].read_text())
    for split, s in stats["splits"].items():
        print(f"{split}: {s['rows']} rows from {s['templates']} templates/compositions -> "
              f"{paths[split]}")
        print("  " + ", ".join(f"{k} {v}" for k, v in s["intents"].items()))
        print("  styles: " + ", ".join(f"{k} {v}" for k, v in s["styles"].items()))
        skeleton = s["forms_per_meaning"]["skeleton"]
        print(f"  forms per meaning (numbers masked, meanings with >= 5 rows): mean "
              f"{skeleton['mean_forms']}, median {skeleton['median_forms']}")
    print(f"excluded: {len(exclude)} evaluation commands and their near-duplicates")
    print(f"stats: {paths['stats']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

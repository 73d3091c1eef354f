"""Data set quality report (tutorial exercise E32.2) for any format the loaders read.

    python -m training.analyze data/robot_commands/train.jsonl --out outputs/analysis
    python -m training.analyze test/data/alpaca_sample.json --tokenizer embedded

Reports (1) instruction length in words (and tokens with --tokenizer) with a histogram
and percentiles, (2) the most common leading verbs, (3) mean response length per task
(the generator's intent when rows have one, else the leading verb) and (4) low-quality
rows with examples: empty outputs, outputs that repeat the instruction, instructions
that refer to a missing input, truncated or very long outputs, duplicated instructions,
non-English text, refusals, and for robot data targets `parse_response` rejects or
that disagree with the row's actions. Writes report.md and PNGs (matplotlib Agg).
"""
from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from robot_sft.response_format import (ParseError, action_from_dict, actions_equal, expand_actions,
                                       parse_response)
from training.data.loaders import read_conversations

POLITE_PREFIX = re.compile(
    r"^(?:(?:please|pls|kindly|hey|hi|ok|okay|alright|so|now|robot|hey robot|"
    r"(?:could|can|would|will) you(?: please)?|i (?:need|want) you to|i'd like you to|"
    r"let's|let us)\b[\s,:!]*)+")
INPUT_REFERENCE = re.compile(
    r"\b(?:the following|given (?:text|sentence|paragraph|passage|list|data|input|article|"
    r"word|words|code|table|numbers?)|this (?:text|sentence|paragraph|passage|article|code|list)|"
    r"(?:text|passage|sentence|list|code) below|provided (?:text|input|data|sentence))\b", re.I)
REFUSAL = re.compile(r"\b(?:i'?m sorry|i am sorry|i cannot|i can't|i can not|as an ai|"
                     r"i am unable|i'm unable|cannot comply)\b", re.I)
FOREIGN_WORDS = {"le", "la", "les", "de", "des", "et", "est", "un", "une", "el", "los", "las",
                 "y", "es", "por", "para", "der", "die", "das", "und", "ist", "nicht", "ich",
                 "mit", "il", "di", "che", "gira", "avanza", "fahre", "nach", "vers", "tourne",
                 "metros", "mètres", "metri", "grados", "degrés", "gradi", "izquierda",
                 "derecha", "gauche", "droite", "links", "rechts", "vorwärts", "avance"}
ENGLISH_WORDS = {"the", "a", "an", "and", "is", "to", "of", "in", "you", "it", "for", "on",
                 "me", "please", "what", "how", "go", "move", "turn", "forward", "back",
                 "left", "right", "stop", "with", "this", "that", "are", "be", "by", "at"}
LONG_OUTPUT_WORDS = 300
TRUNCATED_MIN_WORDS = 15
EXAMPLES_PER_FLAG = 5


@dataclass
class Row:
    index: int
    instruction: str
    response: str
    task: str
    actions: list | None = None


@dataclass
class Report:
    source: str
    rows: list[Row]
    load_summary: str
    word_lengths: list[int]
    token_lengths: list[int] | None
    token_note: str
    leading_verbs: Counter
    response_words_by_task: dict
    flags: dict = field(default_factory=dict)  # flag -> list of (row index, note)
    robot: bool = False


def words(text: str) -> list[str]:
    return re.findall(r"[\w'°/.-]+", text)


def leading_verb(instruction: str) -> str:
    """First word after politeness ("please", "could you", "hey robot,")."""
    text = POLITE_PREFIX.sub("", instruction.strip().lower())
    match = re.search(r"[a-z][a-z'-]*", text)
    return match.group(0) if match else "(none)"


def percentiles(values, ps=(50, 90, 95, 99, 100)) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {p: ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] for p in ps}


def to_rows(conversations) -> list[Row]:
    """Instruction = first user turn; response = the first assistant turn after it."""
    rows = []
    for i, conv in enumerate(conversations):
        messages = conv["messages"]
        user = next((j for j, m in enumerate(messages) if m["role"] == "user"), None)
        instruction = messages[user]["content"] if user is not None else ""
        response = next((m["content"] for m in messages[(user or 0):] if m["role"] == "assistant"), "")
        actions = conv.get("actions")
        rows.append(Row(i, instruction, response, conv.get("intent") or leading_verb(instruction),
                        actions if isinstance(actions, list) else None))
    return rows


def _is_english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isascii() for c in letters) / len(letters) < 0.7:
        return False
    tokens = [t.lower() for t in re.findall(r"[^\W\d_]+", text)]
    foreign = sum(t in FOREIGN_WORDS for t in tokens)
    english = sum(t in ENGLISH_WORDS for t in tokens)
    return not (foreign >= 2 and foreign > english)


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def quality_flags(rows: list[Row], robot: bool) -> dict[str, list[tuple[int, str]]]:
    flags = defaultdict(list)
    first_seen = {}
    for row in rows:
        out, instr = row.response.strip(), row.instruction.strip()
        n_out = len(words(out))
        if sum(c.isalnum() for c in out) <= 2:
            flags["empty or near-empty output"].append((row.index, repr(out)))
        if not robot and instr and len(words(instr)) >= 3 and (  # robot targets restate
                _normal(out) == _normal(instr)
                or SequenceMatcher(None, _normal(out), _normal(instr)).ratio() > 0.9):
            flags["output repeats the instruction"].append((row.index, ""))
        if INPUT_REFERENCE.search(instr) and "\n" not in instr and ":" not in instr:
            flags["refers to a missing input"].append((row.index, INPUT_REFERENCE.search(instr).group(0)))
        if n_out >= TRUNCATED_MIN_WORDS and not re.search(r"[.!?)\]}\"'`*:]\s*$", out):
            flags["looks truncated"].append((row.index, f"ends with {out[-25:]!r}"))
        if n_out > LONG_OUTPUT_WORDS:
            flags["very long output"].append((row.index, f"{n_out} words"))
        key = _normal(instr)
        if key in first_seen:
            first = first_seen[key]
            conflict = "conflicting outputs" if _normal(rows[first].response) != _normal(out) else "same output"
            flags["duplicated instruction"].append((row.index, f"same as row {first}, {conflict}"))
        else:
            first_seen[key] = row.index
        if not _is_english(instr) or not _is_english(out):
            flags["non-English text"].append((row.index, ""))
        if REFUSAL.search(out):
            flags["refusal"].append((row.index, ""))
        if robot:
            parsed = parse_response(out)
            if isinstance(parsed, ParseError):
                flags["target rejected by parse_response"].append((row.index, parsed.message))
            elif row.actions is not None:
                try:
                    expected = [action_from_dict(a) for a in row.actions]
                except (TypeError, ValueError) as exc:
                    flags["invalid actions metadata"].append((row.index, str(exc)))
                    continue
                if not actions_equal(expand_actions(expected), expand_actions(parsed)):
                    flags["target disagrees with actions"].append((row.index, ""))
    return dict(flags)


def _load_tokenizer(name: str | None):
    """(tokenizer or None, note). Without --tokenizer the embedded one is used only if
    its cache already exists (loading it the first time means dequantising the model)."""
    from robot_sft.models import embedded_cache_path, load_tokenizer

    if name is None:
        if not (embedded_cache_path() / "tokenizer.json").is_file():
            return None, "no tokenizer (pass --tokenizer embedded to count tokens); lengths in words"
        name = "embedded"
    try:
        return load_tokenizer(name), f"tokens by the {name} tokenizer"
    except Exception as exc:  # a missing model must not stop the report
        return None, f"tokenizer {name} unavailable ({exc}); lengths in words"


def analyze(source: str, format: str = "auto", tokenizer: str | None = None,
            robot: bool | None = None, use_tokenizer: bool = True) -> Report:
    conversations, stats = read_conversations(source, format)
    rows = to_rows(conversations)
    if robot is None:  # generator rows carry actions or an intent
        robot = any("actions" in c or "intent" in c for c in conversations)
    tok, note = _load_tokenizer(tokenizer) if use_tokenizer else (None, "tokenizer not requested")
    token_lengths = None
    if tok is not None:
        token_lengths = [len(tok(r.instruction, add_special_tokens=False)["input_ids"]) for r in rows]
    by_task = defaultdict(list)
    for r in rows:
        by_task[r.task].append(len(words(r.response)))
    return Report(
        source=str(source), rows=rows, load_summary=stats.summary(),
        word_lengths=[len(words(r.instruction)) for r in rows], token_lengths=token_lengths,
        token_note=note, leading_verbs=Counter(leading_verb(r.instruction) for r in rows),
        response_words_by_task={t: (len(v), sum(v) / len(v)) for t, v in by_task.items()},
        flags=quality_flags(rows, robot), robot=robot)


def _plots(report: Report, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(7, 4))
    lengths = report.token_lengths or report.word_lengths
    unit = "tokens" if report.token_lengths else "words"
    ax.hist(lengths, bins=min(40, max(5, len(set(lengths)))), color="#4c72b0")
    ax.set(title=f"Instruction length ({len(lengths)} rows)", xlabel=unit, ylabel="rows")
    paths.append(out / "instruction_lengths.png")
    fig.tight_layout(); fig.savefig(paths[-1], dpi=100); plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    top = report.leading_verbs.most_common(20)[::-1]
    ax.barh([v for v, _ in top], [n for _, n in top], color="#55a868")
    ax.set(title="Most common leading verbs", xlabel="rows")
    paths.append(out / "leading_verbs.png")
    fig.tight_layout(); fig.savefig(paths[-1], dpi=100); plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    tasks = sorted(report.response_words_by_task.items(), key=lambda kv: kv[1][0])[-20:]
    ax.barh([t for t, _ in tasks], [mean for _, (_, mean) in tasks], color="#c44e52")
    ax.set(title="Mean response length by task", xlabel="words")
    paths.append(out / "response_length_by_task.png")
    fig.tight_layout(); fig.savefig(paths[-1], dpi=100); plt.close(fig)
    return paths


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def render_markdown(report: Report) -> str:
    lines = [f"# Data set report: {report.source}", "", f"Loaded: {report.load_summary}.", ""]
    lines += ["## 1. Instruction length", "", f"Lengths: {report.token_note}.", "",
              "| percentile | words |" + (" tokens |" if report.token_lengths else ""),
              "|---|---|" + ("---|" if report.token_lengths else "")]
    wp = percentiles(report.word_lengths)
    tp = percentiles(report.token_lengths or [])
    for p, v in wp.items():
        lines.append(f"| p{p} | {v} |" + (f" {tp[p]} |" if tp else ""))
    lines += ["", "![instruction lengths](instruction_lengths.png)", "",
              "## 2. Most common leading verbs", "",
              "First word after stripping politeness (please, could you, hey robot, ...).", "",
              "| verb | rows |", "|---|---|"]
    lines += [f"| {v} | {n} |" for v, n in report.leading_verbs.most_common(15)]
    lines += ["", "![leading verbs](leading_verbs.png)", "",
              "## 3. Mean response length by task", "", "| task | rows | mean words |", "|---|---|---|"]
    for task, (n, mean) in sorted(report.response_words_by_task.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"| {task} | {n} | {mean:.1f} |")
    lines += ["", "![response length by task](response_length_by_task.png)", "",
              "## 4. Low-quality flags", ""]
    if not report.flags:
        lines.append("No row was flagged.")
    for flag, hits in report.flags.items():
        lines += [f"### {flag}: {len(hits)} rows", ""]
        for index, note in hits[:EXAMPLES_PER_FLAG]:
            row = report.rows[index]
            lines.append(f"- row {index}: `{_clip(row.instruction)}` -> `{_clip(row.response)}`"
                         + (f" ({note})" if note else ""))
        lines.append("")
    return "\n".join(lines) + "\n"


def write_report(report: Report, out_dir) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {p.stem: p for p in _plots(report, out)}
    paths["report"] = out / "report.md"
    paths["report"].write_text(render_markdown(report), encoding="utf-8")
    return paths


def summary_text(report: Report) -> str:
    wp = percentiles(report.word_lengths)
    lines = [report.load_summary,
             "instruction words: " + ", ".join(f"p{p} {v}" for p, v in wp.items()),
             f"lengths: {report.token_note}",
             "leading verbs: " + ", ".join(f"{v} {n}" for v, n in report.leading_verbs.most_common(8)),
             "flags: " + (", ".join(f"{f} {len(h)}" for f, h in report.flags.items()) or "none")]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help=".json/.jsonl/.parquet file or Hugging Face data set id")
    parser.add_argument("--format", default="auto",
                        choices=["auto", "messages", "alpaca", "sharegpt", "prompt_completion"])
    parser.add_argument("--out", default=None, help="output dir (default outputs/analysis/<name>)")
    parser.add_argument("--tokenizer", default=None, help="count tokens with this tokenizer "
                        "(e.g. embedded); default: the embedded one if already cached")
    parser.add_argument("--robot", action="store_true", default=None,
                        help="check targets with parse_response (automatic for generator data)")
    args = parser.parse_args(argv)
    report = analyze(args.path, args.format, args.tokenizer, args.robot)
    out = args.out or Path("outputs/analysis") / Path(args.path).name.split(".")[0].replace("/", "_")
    paths = write_report(report, out)
    print(summary_text(report))
    print(f"report: {paths['report']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load chat SFT data from local files or the Hugging Face hub into one shape.

    rows = load_conversations("data/robot_commands/train.jsonl")
    rows = load_conversations("tatsu-lab/alpaca")          # hub id, via datasets

Every row becomes {"messages": [{"role", "content"}, ...], **metadata}, whatever the
source format:

  messages        {"messages": [{"role": "user", "content": ...}, ...]}  (OpenAI / HF chat)
  alpaca          {"instruction", "input", "output"}          (input appended to the prompt)
  sharegpt        {"conversations": [{"from": "human"|"gpt"|"system", "value": ...}]}
  prompt_completion  {"prompt", "completion"} as strings or as message lists

Keys a format does not consume (intent, actions, template_id, ...) pass through.
A malformed row raises `DatasetFormatError` naming file and line (1-based, JSONL) or
index (0-based, JSON list / parquet / hub). Rows without an assistant turn and blank
JSONL lines are skipped, counted and logged; a source with no assistant turn at all
is an error.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

FORMATS = ("messages", "alpaca", "sharegpt", "prompt_completion")
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant",
                  "model": "assistant", "system": "system"}
# Keys that decide the format (checked in this order).
FORMAT_KEYS = {"messages": ("messages",), "sharegpt": ("conversations",),
               "alpaca": ("instruction", "output"), "prompt_completion": ("prompt", "completion")}


class DatasetFormatError(ValueError):
    """A data set row (or the whole source) is not in a supported shape."""

    def __init__(self, source: str, where: str | None, problem: str):
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}{', ' + where if where else ''}: {problem}")


@dataclass
class LoadStats:
    source: str
    format: str = ""
    rows: int = 0
    skipped: dict = field(default_factory=dict)  # reason -> count

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items()) or "none"
        return f"{self.source}: {self.rows} rows ({self.format}); skipped: {skipped}"


def detect_format(row: dict) -> str | None:
    for name, keys in FORMAT_KEYS.items():
        if all(k in row for k in keys):
            return name
    return None


def _text(value, what: str) -> str:
    """Content as a string; OpenAI-style lists of text parts are joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                       and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    raise ValueError(f"{what} must be a string, got {type(value).__name__}")


def _check_messages(messages, what: str = "messages") -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{what} must be a non-empty list of messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"{what}[{i}] needs 'role' and 'content'")
        if m["role"] not in ROLES:
            raise ValueError(f"{what}[{i}] has role {m['role']!r}; expected one of {ROLES}")
        out.append({"role": m["role"], "content": _text(m["content"], f"{what}[{i}].content")})
    return out


def _convert(row: dict, fmt: str) -> dict:
    """One row in `fmt` -> {"messages": [...], **passthrough}; raises ValueError."""
    consumed = FORMAT_KEYS[fmt] + {"messages": (), "alpaca": ("input", "system")}.get(fmt, ("system",))
    rest = {k: v for k, v in row.items() if k not in consumed}
    system = row.get("system") if "system" in consumed else None
    head = [{"role": "system", "content": _text(system, "system")}] if system else []
    if fmt == "messages":
        return {"messages": _check_messages(row["messages"]), **rest}
    if fmt == "alpaca":
        prompt = _text(row["instruction"], "instruction")
        extra = row.get("input") or ""
        if extra:
            prompt = f"{prompt}\n\n{_text(extra, 'input')}"
        return {"messages": head + [{"role": "user", "content": prompt},
                                    {"role": "assistant", "content": _text(row["output"], "output")}],
                **rest}
    if fmt == "sharegpt":
        turns = row["conversations"]
        if not isinstance(turns, list) or not turns:
            raise ValueError("conversations must be a non-empty list")
        messages = list(head)
        for i, t in enumerate(turns):
            if not isinstance(t, dict) or "from" not in t or "value" not in t:
                raise ValueError(f"conversations[{i}] needs 'from' and 'value'")
            role = SHAREGPT_ROLES.get(str(t["from"]).lower())
            if role is None:
                raise ValueError(f"conversations[{i}] has from={t['from']!r}; expected one of "
                                 f"{sorted(SHAREGPT_ROLES)}")
            messages.append({"role": role, "content": _text(t["value"], f"conversations[{i}].value")})
        return {"messages": messages, **rest}
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, str) and isinstance(completion, str):
        return {"messages": head + [{"role": "user", "content": prompt},
                                    {"role": "assistant", "content": completion}], **rest}
    if isinstance(prompt, list) and isinstance(completion, list):
        return {"messages": head + _check_messages(prompt, "prompt")
                + _check_messages(completion, "completion"), **rest}
    raise ValueError("prompt and completion must both be strings or both be message lists")


def _records(path: Path, source: str, stats: LoadStats, split: str):
    """(where, row) pairs from a local file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    stats.skip("blank lines")
                    continue
                try:
                    yield f"line {number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetFormatError(source, f"line {number}", f"invalid JSON: {exc.msg}") from None
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(source, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
        if isinstance(data, dict) and isinstance(data.get(split), list):
            data = data[split]
        elif isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise DatasetFormatError(source, None, "expected a JSON list of rows (or an object "
                                     f"with a {split!r} or 'data' list)")
        yield from ((f"index {i}", row) for i, row in enumerate(data))
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from ((f"index {i}", row) for i, row in enumerate(pq.read_table(path).to_pylist()))
    else:
        raise DatasetFormatError(source, None, f"unsupported file type {suffix!r}; use .json, "
                                 ".jsonl or .parquet")


def _hub_records(source: str, split: str):
    try:
        from datasets import load_dataset

        data = load_dataset(source, split=split)
    except Exception as exc:  # network, missing split, unknown id: say which and why
        raise DatasetFormatError(source, None, f"cannot load from the Hugging Face hub "
                                 f"(split {split!r}): {type(exc).__name__}: {exc}") from exc
    yield from ((f"index {i}", row) for i, row in enumerate(data))


def read_conversations(source: str, format: str = "auto", split: str = "train"
                       ) -> tuple[list[dict], LoadStats]:
    """Like `load_conversations`, also returning what was read and skipped."""
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    path = Path(source).expanduser()
    stats = LoadStats(str(source))
    if path.exists():
        if path.is_dir() or path.stat().st_size == 0:
            raise DatasetFormatError(str(source), None, "is empty" if path.is_file()
                                     else "is a directory; pass a .json, .jsonl or .parquet file")
        records = _records(path, str(source), stats, split)
    elif str(source).startswith((".", "/", "~")) or path.suffix.lower() in (".json", ".jsonl",
                                                                             ".parquet"):
        raise FileNotFoundError(f"data file {source} does not exist")
    else:
        records = _hub_records(str(source), split)
    rows, fmt, fmt_from = [], None if format == "auto" else format, None
    for where, row in records:
        if not isinstance(row, dict):
            raise DatasetFormatError(str(source), where, f"expected an object, got {type(row).__name__}")
        if fmt is None:
            fmt, fmt_from = detect_format(row), where
            if fmt is None:
                raise DatasetFormatError(str(source), where, f"unknown format: keys {sorted(row)}; "
                                         f"expected one of {_format_help()}")
        missing = [k for k in FORMAT_KEYS[fmt] if k not in row]
        if missing:
            detected = f" (format {fmt} detected at {fmt_from})" if fmt_from else ""
            raise DatasetFormatError(str(source), where, f"missing {missing}{detected}; "
                                     f"row keys: {sorted(row)}")
        try:
            converted = _convert(row, fmt)
        except ValueError as exc:
            raise DatasetFormatError(str(source), where, str(exc)) from None
        if not any(m["role"] == "assistant" for m in converted["messages"]):
            stats.skip("rows without an assistant turn")
            continue
        rows.append(converted)
    stats.format, stats.rows = fmt or format, len(rows)
    if not rows:
        problem = ("has no rows" if not stats.skipped
                   else f"has no assistant turns at all (skipped: {stats.skipped})")
        raise DatasetFormatError(str(source), None, problem)
    if stats.skipped:
        log.warning("skipped while loading %s", stats.summary())
    return rows, stats


def load_conversations(source: str, format: str = "auto", split: str = "train") -> list[dict]:
    """Rows of a .json/.jsonl/.parquet file or a hub data set as {"messages": [...], ...}."""
    return read_conversations(source, format, split)[0]


def _format_help() -> str:
    return "; ".join(f"{name}: {', '.join(keys)}" for name, keys in FORMAT_KEYS.items())

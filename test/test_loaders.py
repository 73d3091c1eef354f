"""Every supported data format loads into {"messages": [...]} with metadata kept, and
every malformed input fails with the file, the line or index, and what is wrong."""
import json
import logging

import pytest

from training.data.loaders import DatasetFormatError, load_conversations, read_conversations

USER_ASSISTANT = [{"role": "user", "content": "go forward 2 m"},
                  {"role": "assistant", "content": "Move forward 2 m."}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("row, messages", [
    ({"messages": USER_ASSISTANT, "intent": "move"}, USER_ASSISTANT),
    ({"instruction": "go forward 2 m", "input": "", "output": "Move forward 2 m.", "intent": "move"},
     USER_ASSISTANT),
    ({"instruction": "Translate", "input": "bonjour", "output": "hello", "intent": "move"},
     [{"role": "user", "content": "Translate\n\nbonjour"}, {"role": "assistant", "content": "hello"}]),
    ({"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "go forward 2 m"},
                        {"from": "gpt", "value": "Move forward 2 m."}], "intent": "move"},
     [{"role": "system", "content": "S"}] + USER_ASSISTANT),
    ({"prompt": "go forward 2 m", "completion": "Move forward 2 m.", "intent": "move"}, USER_ASSISTANT),
    ({"prompt": USER_ASSISTANT[:1], "completion": USER_ASSISTANT[1:], "intent": "move"}, USER_ASSISTANT),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "go forward 2 m"}]},
                   USER_ASSISTANT[1]], "intent": "move"}, USER_ASSISTANT),
])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_formats_load_to_messages(tmp_path, row, messages, suffix):
    path = tmp_path / f"data{suffix}"
    rows = [row, row]
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        if any(isinstance(v, list) and v and isinstance(v[0], dict) and isinstance(
                v[0].get("content"), list) for v in row.values()):
            pytest.skip("parquet needs one type per column")
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(rows), path)
    loaded = load_conversations(str(path))
    assert len(loaded) == 2
    assert loaded[0]["messages"] == messages
    assert loaded[0]["intent"] == "move"  # metadata passes through


def test_json_object_with_split(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"train": [{"messages": USER_ASSISTANT}], "test": []}))
    assert len(load_conversations(str(path), split="train")) == 1


@pytest.mark.parametrize("lines, fmt, where, problem", [
    (['{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}',
      '{"messages": [{"role": "robot", "content": "x"}]}'], "auto", "line 2", "role 'robot'"),
    (['{"instruction": "a", "output": "b"}', '{"instruction": "a"}'], "auto", "line 2",
     "missing ['output'] (format alpaca detected at line 1)"),
    (['{"instruction": "a", "output": "b"}', '', '{not json'], "auto", "line 3", "invalid JSON"),
    (['{"conversations": [{"from": "alien", "value": "hi"}]}'], "auto", "line 1", "from='alien'"),
    (['{"text": "hello"}'], "auto", "line 1", "unknown format"),
    (['{"prompt": "a", "completion": ["b"]}'], "auto", "line 1", "both be strings"),
    (['{"messages": [{"role": "user", "content": 3}]}'], "auto", "line 1", "must be a string"),
    (['[1, 2]'], "auto", "line 1", "expected an object"),
    (['{"instruction": "a", "output": "b"}'], "sharegpt", "line 1", "missing ['conversations']"),
])
def test_malformed_rows_name_file_line_and_problem(tmp_path, lines, fmt, where, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError) as info:
        load_conversations(str(path), format=fmt)
    message = str(info.value)
    assert str(path) in message and where in message and problem in message, message
    assert info.value.where == where


def test_json_list_errors_give_the_index(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"messages": USER_ASSISTANT}, {"messages": []}]))
    with pytest.raises(DatasetFormatError, match=r"bad\.json, index 1: messages must be a non-empty"):
        load_conversations(str(path))


@pytest.mark.parametrize("content, problem", [("", "is empty"), ("[]", "has no rows"),
                                              ('{"rows": 1}', "expected a JSON list")])
def test_empty_sources(tmp_path, content, problem):
    path = tmp_path / "empty.json"
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=problem):
        load_conversations(str(path))


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_conversations(str(tmp_path / "nope.jsonl"))
    (tmp_path / "d.csv").write_text("a,b\n")
    with pytest.raises(DatasetFormatError, match="unsupported file type '.csv'"):
        load_conversations(str(tmp_path / "d.csv"))


def test_skipped_rows_are_counted_and_logged(tmp_path, caplog):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": USER_ASSISTANT}) + "\n\n"
                    + json.dumps({"messages": USER_ASSISTANT[:1]}) + "\n")
    with caplog.at_level(logging.WARNING):
        rows, stats = read_conversations(str(path))
    assert len(rows) == 1
    assert stats.skipped == {"blank lines": 1, "rows without an assistant turn": 1}
    assert "1 rows without an assistant turn" in caplog.text


def test_no_assistant_turns_at_all_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"messages": USER_ASSISTANT[:1]}] * 3)
    with pytest.raises(DatasetFormatError, match="no assistant turns at all"):
        load_conversations(str(path))


def test_generated_data_round_trips(tmp_path):
    from training.data.generate import generate_dataset, write_dataset

    paths = write_dataset(generate_dataset(n=60, seed=0), tmp_path)
    rows = load_conversations(str(paths["train"]))
    assert rows[0]["template_id"].startswith("seed/") and len(rows[0]["messages"]) == 3

"""robot_sft.inference.gguf_export: merged adapter -> GGUF (names, row permutation, cache), no llama.cpp."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

np = pytest.importorskip("numpy")
gguf = pytest.importorskip("gguf")
pytest.importorskip("torch")

from robot_sft.inference.gguf_export import (  # noqa: E402
    NotExportable, adapter_hash, cache_key, cache_problem, ensure_gguf, export_gguf,
    gguf_cache_path, gguf_name, permute, record_path, source_gguf, write_record)
from tiny_models import make_tiny_adapter  # noqa: E402


def test_hf_names_map_to_llama_cpp_tensor_names():
    assert gguf_name("model.embed_tokens.weight") == "token_embd.weight"
    assert gguf_name("model.norm.weight") == "output_norm.weight"
    assert gguf_name("lm_head.weight") == "output.weight"
    assert gguf_name("model.layers.7.self_attn.q_proj.weight") == "blk.7.attn_q.weight"
    assert gguf_name("model.layers.0.self_attn.o_proj.weight") == "blk.0.attn_output.weight"
    assert gguf_name("model.layers.29.mlp.down_proj.weight") == "blk.29.ffn_down.weight"
    assert gguf_name("model.layers.3.post_attention_layernorm.weight") == "blk.3.ffn_norm.weight"
    assert gguf_name("model.layers.3.self_attn.q_proj.lora_A.weight") is None


def test_permute_is_llama_cpps_row_order():
    """Within each head, llama.cpp interleaves the two rotary halves: rows 0, d/2, 1, d/2+1..."""
    n_head, head_dim = 3, 4
    rows = np.arange(n_head * head_dim, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    out = permute(rows, n_head)[:, 0].astype(int).tolist()
    assert out == [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11]


def test_a_base_without_a_source_gguf_is_refused_with_the_alternatives(tmp_path):
    with pytest.raises(NotExportable, match="convert_hf_to_gguf.py.*model_backend:=transformers"):
        source_gguf("TinyLlama/TinyLlama-1.1B-Chat-v1.0")
    adapter = make_tiny_adapter(tmp_path)  # its base is a local random model
    with pytest.raises(NotExportable):
        ensure_gguf(adapter, directory=tmp_path / "gguf")
    assert not (tmp_path / "gguf").exists()


def test_cache_key_follows_the_adapter_weights_and_the_quantisation(tmp_path):
    adapter = make_tiny_adapter(tmp_path)
    source = tmp_path / "source.gguf"
    source.write_bytes(b"GGUF")
    key = cache_key(adapter, source, "q8_0")
    assert key == cache_key(adapter, source, "q8_0")
    assert key != cache_key(adapter, source, "f16")
    (adapter / "README.md").write_text("notes")  # not a weight file: same export
    assert cache_key(adapter, source, "q8_0") == key
    before = adapter_hash(adapter)
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    assert adapter_hash(adapter) != before and cache_key(adapter, source, "q8_0") != key


def test_the_integrity_record_finds_truncation_and_changed_bytes(tmp_path):
    """Size at every check; the sha256 only once the mtime moved (a touch is not damage)."""
    path = tmp_path / "model.gguf"
    path.write_bytes(os.urandom(4096))
    assert cache_problem(path) == "no integrity record next to it"
    write_record(path, tmp_path, "q8_0")
    assert cache_problem(path) is None
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, same bytes
    assert cache_problem(path) is None
    assert cache_problem(path) is None  # the record took the new mtime: no second hash needed
    with open(path, "r+b") as f:  # same size, other bytes
        f.seek(100)
        f.write(b"\xff" * 8)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert cache_problem(path) == "its sha256 differs from the export's"
    with open(path, "r+b") as f:
        f.truncate(1000)
    assert cache_problem(path) == "1000 bytes where the export wrote 4096"
    record_path(path).write_text("{not json")
    assert cache_problem(path) == "no integrity record next to it"


# ----------------------------------------------------------------- the embedded base (slow)

@pytest.fixture(scope="module")
def base_model():
    from robot_sft.models import load_model

    return load_model("embedded").eval()


@pytest.mark.slow
def test_exporting_the_unchanged_base_reproduces_its_source_gguf(base_model, tmp_path):
    """Every merged weight, mapped and permuted back, equals the source's dequantised
    tensor bit for bit (so q8_0 keeps every source tensor as it is), and every metadata
    key (tokenizer, chat template, rope...) is copied."""
    from robot_sft.models import embedded_gguf_path

    source = gguf.GGUFReader(embedded_gguf_path())
    out = gguf.GGUFReader(export_gguf(base_model, embedded_gguf_path(), tmp_path / "b.gguf"))
    assert [(t.name, t.tensor_type) for t in out.tensors] == \
        [(t.name, t.tensor_type) for t in source.tensors]
    for a, b in zip(source.tensors, out.tensors):
        assert np.array_equal(np.asarray(a.data), np.asarray(b.data)), a.name
    assert "output.weight" not in {t.name for t in out.tensors}  # tied to token_embd
    skip = {"general.file_type", "GGUF.kv_count", "GGUF.tensor_count"}
    keys = [k for k in source.fields if k not in skip]
    assert keys == [k for k in out.fields if k not in skip]
    for key in keys:
        if key.startswith("GGUF."):
            continue
        assert source.fields[key].contents() == out.fields[key].contents(), key


@pytest.mark.slow
def test_quantisations(base_model, tmp_path):
    """f32: the weights as they are; q8_0 without keeping the source: every matrix Q8_0,
    norms F32; f16 halves the f32 file."""
    from gguf import GGMLQuantizationType as T

    from robot_sft.models import embedded_gguf_path

    f32 = gguf.GGUFReader(export_gguf(base_model, embedded_gguf_path(), tmp_path / "f.gguf", "f32"))
    q8 = gguf.GGUFReader(export_gguf(base_model, embedded_gguf_path(), tmp_path / "q.gguf", "q8_0",
                                     keep_unchanged=False))
    assert {t.tensor_type for t in f32.tensors} == {T.F32}
    assert {t.tensor_type for t in q8.tensors if len(t.shape) == 1} == {T.F32}
    assert {t.tensor_type for t in q8.tensors if len(t.shape) == 2} == {T.Q8_0}
    embed = base_model.model.embed_tokens.weight.detach().numpy()
    assert np.array_equal(np.asarray(f32.tensors[0].data), embed)
    dequantised = gguf.quants.dequantize(q8.tensors[0].data, T.Q8_0).reshape(embed.shape)
    assert np.abs(dequantised - embed).max() <= np.abs(embed).max() / 127  # half a step, or so
    with pytest.raises(ValueError, match="q4"):
        export_gguf(base_model, embedded_gguf_path(), tmp_path / "x.gguf", "q4")
    assert not list(tmp_path.glob(".x.gguf*"))  # nothing half-written left behind


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory):
    """A random LoRA on the embedded base, in the layout training writes."""
    from benchmarks.latency import random_adapter

    return random_adapter(tmp_path_factory.mktemp("lora") / "adapter", "embedded")


@pytest.mark.slow
def test_ensure_gguf_exports_once_then_reuses_and_replaces_stale_exports(lora_adapter, tmp_path,
                                                                      monkeypatch):
    import robot_sft.inference.gguf_export as export

    logs = []
    path = ensure_gguf(lora_adapter, quant="q8_0", log=logs.append, directory=tmp_path)
    assert path.is_file() and len(logs) == 1 and path.parent == tmp_path
    assert path == gguf_cache_path(lora_adapter, "embedded", "q8_0", tmp_path)
    reader = gguf.GGUFReader(path)
    assert reader.fields["robot_sft.adapter_sha256"].contents() == adapter_hash(lora_adapter)
    # the adapter changed every block matrix; the token embeddings keep the source's bytes
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == types["blk.29.ffn_down.weight"] == "Q8_0"

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(export, "export_gguf", no_export)
    assert ensure_gguf(lora_adapter, quant="q8_0", directory=tmp_path) == path
    monkeypatch.undo()
    monkeypatch.setenv("ROBOT_SFT_GGUF_CACHE", str(tmp_path))
    assert gguf_cache_path(lora_adapter, "embedded", "q8_0") == path
    # a retrained adapter (new weights): a new export that replaces the stale one
    config = lora_adapter / "adapter_config.json"
    original = config.read_text()
    try:
        config.write_text(original.replace("\n", "\n ", 1))
        fresh = ensure_gguf(lora_adapter, quant="q8_0", directory=tmp_path)
        assert fresh != path and fresh.is_file() and not path.exists()
    finally:
        config.write_text(original)


@pytest.fixture(scope="module")
def exported(lora_adapter, tmp_path_factory):
    """The q8_0 export of lora_adapter, in a cache of its own (exported once per module)."""
    return ensure_gguf(lora_adapter, quant="q8_0", directory=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def cache_copy(exported, tmp_path):
    """A private copy of that cache (every file, mtimes kept), for a test to damage."""
    directory = tmp_path / "cache"
    directory.mkdir()
    for path in exported.parent.iterdir():
        shutil.copy2(path, directory / path.name)
    return directory / exported.name


def no_export(*args, **kwargs):
    raise AssertionError("exported again")


@pytest.mark.slow
def test_a_copied_or_renamed_adapter_reuses_the_export(lora_adapter, cache_copy, tmp_path,
                                                       monkeypatch):
    import robot_sft.inference.gguf_export as export

    copy = tmp_path / "elsewhere" / "renamed-adapter"
    shutil.copytree(lora_adapter, copy)
    monkeypatch.setattr(export, "export_gguf", no_export)
    assert ensure_gguf(copy, quant="q8_0", directory=cache_copy.parent) == cache_copy


@pytest.mark.slow
def test_a_truncated_cache_file_is_exported_again_with_one_warning(lora_adapter, cache_copy,
                                                                   monkeypatch):
    import robot_sft.inference.gguf_export as export

    size = cache_copy.stat().st_size
    with open(cache_copy, "r+b") as f:
        f.truncate(size // 2)
    exports, real_export = [], export.export_gguf

    def counted_export(*args, **kwargs):
        exports.append(args)
        return real_export(*args, **kwargs)

    monkeypatch.setattr(export, "export_gguf", counted_export)
    logs, warnings = [], []
    path = ensure_gguf(lora_adapter, quant="q8_0", log=logs.append, warn=warnings.append,
                       directory=cache_copy.parent)
    assert path == cache_copy and len(exports) == 1
    assert len(warnings) == 1 and "is damaged" in warnings[0] and f"{size // 2} bytes" in warnings[0]
    assert path.stat().st_size == size and cache_problem(path) is None
    assert len(gguf.GGUFReader(path).tensors) > 100
    monkeypatch.setattr(export, "export_gguf", no_export)  # sound again: loaded as it is
    assert ensure_gguf(lora_adapter, quant="q8_0", directory=cache_copy.parent) == path


KILLED_EXPORT = """
import sys, time
import gguf
from robot_sft.models import load_model, embedded_gguf_path
from robot_sft.inference.gguf_export import export_gguf

write = gguf.GGUFWriter.write_tensors_to_file
def write_then_hang(self, *args, **kwargs):  # every byte written, not yet renamed
    write(self, *args, **kwargs)
    print("written", flush=True)
    time.sleep(600)
gguf.GGUFWriter.write_tensors_to_file = write_then_hang
export_gguf(load_model("embedded"), embedded_gguf_path(), sys.argv[1])
"""


@pytest.mark.slow
def test_a_killed_export_leaves_no_file_under_the_final_name(tmp_path):
    """SIGKILL once every byte is written but before the rename: the final name never
    holds the file; the next export clears the orphan temporary file."""
    from robot_sft.inference.gguf_export import _remove_stale_temporaries

    out = tmp_path / "model.gguf"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(out)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not out.exists()
    (orphan,) = tmp_path.glob(".model.gguf.*.tmp")
    assert orphan.stat().st_size > 50_000_000  # the whole export, under its temporary name
    _remove_stale_temporaries(tmp_path, older_than_s=3600)
    assert orphan.exists()  # an hour has not passed: it may be another export's
    _remove_stale_temporaries(tmp_path, older_than_s=0)
    assert not orphan.exists()

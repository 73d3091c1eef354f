"""A merged (base + LoRA) Llama model -> a GGUF file for the llama.cpp backend.

Only bases that come from a GGUF can be exported (the embedded SmolLM2 ships as
`SmolLM2-135M-Instruct.Q4_1.gguf`): every metadata key of that source file (architecture,
hyper-parameters, rope, tokenizer vocabulary/merges/special ids, chat template) is copied
as it is, and the merged weights are written under the source's tensor names. A hub base
(TinyLlama) has no source GGUF: convert it with llama.cpp's `convert_hf_to_gguf.py`, or run
it with `model_backend:=transformers`.

Weights. llama.cpp's converter permutes the rows of q_proj and k_proj of Llama models (the
rotary embedding pairs dimensions differently) and transformers' GGUF loader undoes that
on load, so the export re-applies it (`permute`). Norms stay F32. The other matrices:
- q8_0 (default): blockwise 8-bit (32 weights share one scale; near-lossless), ~4x fewer
  bytes per token than F32. A matrix the adapter did not change (the token embeddings, and
  every matrix without LoRA) keeps the source's own encoding - exactly the numbers
  transformers dequantised from that file.
- q4_0: blockwise 4-bit for the adapted matrices (~2x fewer bytes than q8_0, and llama.cpp
  repacks it for faster CPU kernels); lossy: evaluate the adapter with it first.
- f16, f32: every matrix at that precision (f32: the merged weights bit for bit).

`ensure_gguf` caches exports under ~/.cache/robot_sft/gguf/ (ROBOT_SFT_CACHE moves the
whole robot_sft cache, ROBOT_SFT_GGUF_CACHE this folder only), keyed by content: a hash
of the adapter's weight files, the source GGUF, the quantisation and the exporter version
(not the adapter's path, so a copied or renamed adapter reuses its export). Each file is
written atomically (temporary file + rename) with a size + sha256 record next to it that
is checked before loading; a damaged file is exported again. Only the first start-up
exports.
Needs numpy and the `gguf` package; torch/transformers/peft only when exporting.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from robot_sft.models import (EMBEDDED_NAME, ModelLoadError, cache_dir, embedded_gguf_path,
                              is_embedded)

QUANT_TYPES = ("q8_0", "q4_0", "f16", "f32")
DEFAULT_QUANT = "q8_0"
EXPORT_VERSION = "1"  # bump when the exported bytes change for the same inputs
# Adapter files that decide the merged weights (README, plots, tokenizer files do not).
WEIGHT_FILES = re.compile(r"^(adapter_.*|robot_sft\.json)$")

# HF Llama parameter name -> GGUF tensor name (llama.cpp's tensor names for LLM_ARCH_LLAMA).
_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


class NotExportable(ModelLoadError):
    """The base model has no source GGUF to export from."""


def gguf_name(hf_name: str) -> str | None:
    """The GGUF tensor name of an HF Llama parameter (None: not a Llama weight)."""
    if hf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[hf_name]
    match = _LAYER.match(hf_name)
    if match and match.group(2) in _LAYER_NAMES:
        return f"blk.{match.group(1)}.{_LAYER_NAMES[match.group(2)]}"
    return None


def permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for q_proj (n_head) / k_proj (n_head_kv): convert_hf_to_gguf.py
    LlamaModel.permute, which transformers' GGUF loader inverts."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def source_gguf(base_model: str) -> Path:
    """The GGUF file a base model was loaded from (the embedded alias, or its cached
    safetensors copy); NotExportable for any other base."""
    name = str(base_model).strip()
    if is_embedded(name) or (name and Path(name).expanduser().resolve()
                             == (cache_dir() / EMBEDDED_NAME).resolve()):
        return embedded_gguf_path()
    raise NotExportable(
        f"model_backend llama_cpp needs a base that ships as GGUF (the embedded SmolLM2); "
        f"{name!r} does not: convert it with llama.cpp's convert_hf_to_gguf.py, or use "
        f"model_backend:=transformers")


# ------------------------------------------------------------------------------- export

def _field_value(field):
    """A GGUFReader field's value, ready for GGUFWriter.add_key_value."""
    import gguf

    if field.types[0] == gguf.GGUFValueType.ARRAY:
        return list(field.contents()), field.types[0], field.types[-1]
    return field.contents(), field.types[0], None


def _hf_weights(model) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        return {name: t.detach().to("cpu", torch.float32).numpy()
                for name, t in model.state_dict().items()}


def export_gguf(model, source: Path, out_path: Path, quant: str = DEFAULT_QUANT,
                keep_unchanged: bool = True, extra_metadata: dict | None = None) -> Path:
    """Write `model` (an HF LlamaForCausalLM, LoRA already merged) to `out_path` as GGUF,
    with `source`'s metadata and tensor names. `keep_unchanged` (q8_0, q4_0): a
    matrix equal to the source's dequantised tensor keeps the source's bytes. Atomic."""
    import gguf
    from gguf.quants import dequantize, quantize

    QUANTISED = _quantised()
    if quant not in QUANT_TYPES:
        raise ValueError(f"unknown GGUF quantisation {quant!r}: use one of {QUANT_TYPES}")
    reader = gguf.GGUFReader(source)
    arch = reader.fields["general.architecture"].contents()
    if arch != "llama":
        raise NotExportable(f"{source} is a {arch!r} model; only llama is exported")
    config = model.config
    weights = _hf_weights(model)
    by_gguf = {}
    for hf_name, value in weights.items():
        name = gguf_name(hf_name)
        if name is None:
            if hf_name.endswith("rotary_emb.inv_freq"):
                continue
            raise NotExportable(f"parameter {hf_name} has no GGUF tensor name (not a Llama model?)")
        if name.endswith("attn_q.weight"):
            value = permute(value, config.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            value = permute(value, config.num_key_value_heads)
        by_gguf[name] = value
    source_names = {t.name for t in reader.tensors}
    if "output.weight" not in source_names:  # tied: the output layer reads token_embd
        lm_head = by_gguf.pop("output.weight", None)
        if lm_head is not None and not np.array_equal(lm_head, by_gguf["token_embd.weight"]):
            raise NotExportable("lm_head differs from the tied token embeddings; not exportable")
    missing = sorted(source_names - set(by_gguf))
    extra = sorted(set(by_gguf) - source_names)
    if extra or any(not n.startswith("rope_") for n in missing):
        raise NotExportable(f"the model's tensors do not match {source.name}: missing "
                            f"{missing[:5]}, extra {extra[:5]}")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        for key, field in reader.fields.items():
            if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
                continue
            value, vtype, sub_type = _field_value(field)
            writer.add_key_value(key, value, vtype, sub_type)
        file_type = {"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
                     "f16": gguf.LlamaFileType.MOSTLY_F16, "f32": gguf.LlamaFileType.ALL_F32}[quant]
        writer.add_file_type(int(file_type))
        for key, value in (extra_metadata or {}).items():
            writer.add_string(key, str(value))
        for tensor in reader.tensors:
            if tensor.name not in by_gguf:  # e.g. rope_freqs: not a model parameter
                writer.add_tensor(tensor.name, np.asarray(tensor.data),
                                  raw_dtype=tensor.tensor_type)
                continue
            value = np.ascontiguousarray(by_gguf[tensor.name], dtype=np.float32)
            stored = tuple(int(n) for n in reversed(tensor.shape))
            if value.shape != stored:
                raise NotExportable(f"{tensor.name}: the model has shape {value.shape}, "
                                    f"{source.name} {stored}")
            qtype = _tensor_type(quant, value)
            if keep_unchanged and qtype in QUANTISED and \
                    tensor.tensor_type not in (gguf.GGMLQuantizationType.F32,
                                               gguf.GGMLQuantizationType.F16) and \
                    np.array_equal(dequantize(tensor.data, tensor.tensor_type).reshape(value.shape),
                                   value):
                writer.add_tensor(tensor.name, np.asarray(tensor.data),
                                  raw_dtype=tensor.tensor_type)
            elif qtype == gguf.GGMLQuantizationType.F32:
                writer.add_tensor(tensor.name, value)
            elif qtype == gguf.GGMLQuantizationType.F16:
                writer.add_tensor(tensor.name, value.astype(np.float16))
            else:
                writer.add_tensor(tensor.name, quantize(value, qtype), raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


def _quantised():
    from gguf import GGMLQuantizationType as T

    return (T.Q8_0, T.Q4_0)


def _tensor_type(quant: str, value: np.ndarray):
    """Norms (1-D) stay F32; a matrix whose rows do not split into 32-blocks gets F16."""
    from gguf import GGMLQuantizationType as T

    if value.ndim < 2 or quant == "f32":
        return T.F32
    if quant == "f16" or value.shape[-1] % 32:
        return T.F16
    return T.Q4_0 if quant == "q4_0" else T.Q8_0


# ------------------------------------------------------------------------------- cache

def adapter_hash(adapter_dir) -> str:
    """sha256 of the adapter files that decide the merged weights (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(adapter_dir).iterdir()
                   if p.is_file() and WEIGHT_FILES.match(p.name))
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def cache_key(adapter_dir, source: Path, quant: str) -> str:
    """What decides the exported bytes, and nothing else: the adapter's weight files (by
    content: not the directory's path or name), the source GGUF (name, size, mtime), the
    quantisation and this exporter's version."""
    stat = Path(source).stat()
    digest = hashlib.sha256()
    for part in (EXPORT_VERSION, quant, adapter_hash(adapter_dir),
                 Path(source).name, str(stat.st_size), str(stat.st_mtime_ns)):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:20]


def gguf_cache_dir() -> Path:
    """ROBOT_SFT_GGUF_CACHE, else <robot_sft cache>/gguf (~/.cache/robot_sft/gguf)."""
    return Path(os.environ.get("ROBOT_SFT_GGUF_CACHE") or cache_dir() / "gguf")


def gguf_cache_path(adapter_dir, base_model: str, quant: str = DEFAULT_QUANT,
                    directory=None) -> Path:
    """Where the export of this adapter (its current weights) on this base is cached."""
    key = cache_key(adapter_dir, source_gguf(base_model), quant)
    return Path(directory or gguf_cache_dir()) / f"robot_sft-{quant}-{key}.gguf"


def record_path(path: Path) -> Path:
    """The integrity record next to a cached GGUF (<name>.gguf.json)."""
    return path.with_name(path.name + ".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    """Write under a temporary name, then rename: the final name never holds half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_record(path: Path, adapter_dir, quant: str) -> dict:
    """Record the size, mtime and sha256 of a freshly exported GGUF next to it."""
    stat = path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path),
              "quant": quant, "adapter": str(Path(adapter_dir).resolve()),
              "exporter_version": EXPORT_VERSION}
    _write_atomic(record_path(path), json.dumps(record, indent=1) + "\n")
    return record


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    fields = {"size": int, "mtime_ns": int, "sha256": str}
    if not isinstance(record, dict) or \
            not all(isinstance(record.get(k), t) for k, t in fields.items()):
        return None
    return record


def cache_problem(path: Path) -> str | None:
    """Why the cached GGUF at `path` must not be loaded, or None when it is sound.

    The size is compared at every start (a stat: microseconds); the sha256 (~0.3 s for
    150 MB, measured: benchmarks/gguf_cache.py) only when the size or the mtime differ
    from the record, i.e. when something wrote to the file after the export."""
    record = _read_record(path)
    if record is None:
        return "no integrity record next to it"
    stat = path.stat()
    if stat.st_size != record["size"]:
        return f"{stat.st_size} bytes where the export wrote {record['size']}"
    if stat.st_mtime_ns != record["mtime_ns"]:
        if file_sha256(path) != record["sha256"]:
            return "its sha256 differs from the export's"
        record["mtime_ns"] = stat.st_mtime_ns  # touched, not changed: remember the new mtime
        _write_atomic(record_path(path), json.dumps(record, indent=1) + "\n")
    return None


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    record_path(path).unlink(missing_ok=True)


def _forget_older_exports(path: Path, adapter_dir, quant: str) -> None:
    """An export replaces the older ones this adapter directory made with this quant (it
    was retrained); exports another directory made stay, even of the same weights."""
    adapter = str(Path(adapter_dir).resolve())
    for other in path.parent.glob("*.gguf"):
        record = _read_record(other)
        if other != path and record is not None and record.get("adapter") == adapter \
                and record.get("quant") == quant:
            _remove(other)


def _remove_stale_temporaries(directory: Path, older_than_s: float = 3600.0) -> None:
    """Temporary files of exports that were killed before their rename (an export takes
    well under a minute, so an hour-old one is nobody's)."""
    now = time.time()
    for tmp in directory.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
        except OSError:
            pass


def ensure_gguf(adapter_dir, base_model: str | None = None, quant: str = DEFAULT_QUANT,
                log=None, warn=None, directory=None) -> Path:
    """The cached GGUF of base + adapter (merged), exporting it first when there is none
    or when the cached file fails its integrity check (`warn` hears why, in one line;
    `log` hears that an export runs). The cache is keyed by content (`cache_key`): a
    copied or renamed adapter directory finds the export of the original.
    Raises NotExportable (a base without a source GGUF), AdapterError, ModelLoadError."""
    from robot_sft.adapter import read_metadata

    if quant not in QUANT_TYPES:
        raise ValueError(f"unknown GGUF quantisation {quant!r}: use one of {QUANT_TYPES}")
    metadata = read_metadata(adapter_dir)
    base = base_model or metadata.base_model
    path = gguf_cache_path(adapter_dir, base, quant, directory)
    if path.is_file():
        problem = cache_problem(path)
        if problem is None:
            return path
        (warn or log or (lambda text: None))(
            f"the cached GGUF {path} is damaged ({problem}): exporting it again")
    from robot_sft.inference.transformers_backend import TransformersModel

    if log:
        log(f"exporting {adapter_dir} merged into {base} to {path} ({quant}), once")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path.parent)
    merged = TransformersModel.from_adapter(adapter_dir, base, device="cpu").model
    export_gguf(merged, source_gguf(base), path, quant,
                extra_metadata={"robot_sft.adapter_sha256": adapter_hash(adapter_dir)})
    write_record(path, adapter_dir, quant)
    _forget_older_exports(path, adapter_dir, quant)
    return path

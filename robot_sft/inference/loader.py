"""Which model to run: a typed spec in, a CommandModel out.

    spec = ModelSpec.from_config(controller_config)   # the one place parameters become a spec
    model = load_command_model(spec, log=print)

Each backend is a module with `load(spec, log, warn)`, named in BACKENDS: a new backend
(say, an OpenAI-compatible server) is a new module and one line there. The backends are
imported only when picked: importing this module imports neither torch nor llama_cpp.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from robot_sft.adapter import AdapterError, read_metadata
from robot_sft.inference.base import ECHO, CommandModel, FixedResponseModel

# model_backend -> the module that builds it.
BACKENDS = {
    "transformers": "robot_sft.inference.transformers_backend",
    "llama_cpp": "robot_sft.inference.llama_cpp_backend",
}


@dataclass(frozen=True)
class ModelSpec:
    """What to load, as the controller's parameters say it (their names and meanings:
    robot_sft/controller_config.py)."""
    backend: str = "auto"          # auto, fixed, or a key of BACKENDS
    adapter: str = ""              # adapter directory written by training
    base_model: str = ""           # "": the adapter metadata's base_model
    device: str = "auto"           # torch device (llama_cpp: the CPU)
    max_new_tokens: int = 128
    quantize: str = "auto"         # auto: each backend's default
    constrained: bool = False      # decode under each command's own response grammar
    places: tuple[str, ...] = ()   # place names the grammar allows
    num_threads: int = 0           # 0: the backend's default
    fixed_response: str = ECHO     # the fixed backend's answer

    @classmethod
    def from_config(cls, config) -> "ModelSpec":
        """The spec of a robot_sft.controller_config.ControllerConfig."""
        return cls(backend=config.model_backend, adapter=str(config.adapter),
                   base_model=str(config.base_model), device=str(config.device),
                   max_new_tokens=config.max_new_tokens, quantize=config.quantize,
                   constrained=config.constrained_decoding, places=tuple(sorted(config.places)),
                   num_threads=config.num_threads, fixed_response=config.fixed_response)


def select_backend(spec: ModelSpec) -> tuple[str, str]:
    """(backend, why) for the spec: its backend as given, or for 'auto' llama_cpp when
    llama_cpp is installed, the device is the CPU, quantize is not the transformers-only
    int8 and the base ships as GGUF (the embedded SmolLM2); else transformers."""
    if spec.backend != "auto":
        return spec.backend, "model_backend parameter"
    if spec.quantize == "int8":
        return "transformers", "quantize int8 is the transformers backend's"
    if spec.quantize not in ("auto", "none"):  # q8_0, q4_0, f16: a GGUF quantisation
        return "llama_cpp", f"quantize {spec.quantize} is the llama_cpp backend's"
    from robot_sft.inference.llama_cpp_backend import llama_cpp_available

    if not llama_cpp_available():
        return "transformers", "llama_cpp does not import (pip install llama-cpp-python)"
    if spec.device != "cpu":
        if spec.device != "auto":
            return "transformers", f"device {spec.device} (llama_cpp runs on the CPU)"
        from robot_sft.models import default_device

        if default_device() != "cpu":
            return "transformers", "a GPU is available"
    from robot_sft.inference.gguf_export import source_gguf
    from robot_sft.models import ModelLoadError

    try:
        source_gguf(spec.base_model or read_metadata(spec.adapter).base_model)
    except (AdapterError, ModelLoadError) as exc:
        return "transformers", str(exc).split(":")[0]
    return "llama_cpp", "llama_cpp installed, CPU, base ships as GGUF"


def load_command_model(spec: ModelSpec, log=None, warn=None) -> CommandModel:
    """The model `spec` asks for. `log(text)` hears which backend was picked and why (and
    slow steps such as a GGUF export), `warn(text)` what was wrong and repaired on the way
    (a damaged GGUF cache). Raises AdapterError, ModelLoadError, ValueError, ImportError."""
    if spec.backend == "fixed":
        return FixedResponseModel(spec.fixed_response)
    if spec.backend != "auto" and spec.backend not in BACKENDS:
        raise ValueError(f"unknown model_backend {spec.backend!r}")
    if not spec.adapter.strip():
        raise AdapterError("parameter adapter is empty: pass adapter:=DIR (a trained adapter) "
                           "or model_backend:=fixed for a dry run")
    backend, why = select_backend(spec)
    if log is not None:
        log(f"model backend {backend} ({why})")
    return importlib.import_module(BACKENDS[backend]).load(spec, log=log, warn=warn)

"""How an inference server for a fleet is started: the exact command lines, written once.

`python -m robot_sft.export` prints them for an operator; the tests and benchmarks/fleet.py
start llama.cpp's server with the same `llama_cpp_server_command`, so what is tested is
what the documentation tells people to run. Pure (strings in, argument lists out).

Two settings matter for robots and are not llama-cpp-python's defaults:
- `--interrupt_requests False`: by default a new request ends the one streaming (it
  sends [DONE] early): with two robots, one robot's command would cut the other's answer
  short. The client refuses such an answer ("ended the answer unfinished"), but the
  robot would not move. Off, requests wait their turn.
- `--model_alias NAME`: the name robots send as server_model; the client checks it is
  listed in /v1/models (llama-cpp-python answers an unknown name with its default model).
"""
from __future__ import annotations

import shlex
import sys

# vLLM accepts these --max-lora-rank values (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_PORT = 8000


def llama_cpp_server_command(gguf, name: str, host: str = "127.0.0.1",
                             port: int = DEFAULT_PORT, n_threads: int = 0,
                             python: str = sys.executable) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server on a merged GGUF, serving it as `name`
    (needs `pip install 'llama-cpp-python[server]'`, the `server` extra)."""
    command = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", name,
               "--host", host, "--port", str(port), "--interrupt_requests", "False"]
    if n_threads:
        command += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    return command


def vllm_lora_rank(rank: int) -> int:
    """The smallest --max-lora-rank vLLM accepts that holds an adapter of rank `rank`."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ValueError(f"LoRA rank {rank} is above vLLM's largest --max-lora-rank "
                     f"({VLLM_LORA_RANKS[-1]})")


def vllm_serve_command(base: str, adapters: dict[str, str], rank: int,
                       port: int = DEFAULT_PORT) -> list[str]:
    """`vllm serve` for a GPU server: the base once, every robot's adapter as a LoRA module
    picked per request by name, and the guidance structured-outputs backend (llguidance,
    the grammar library the node uses in-process; it reads the GBNF the robots send)."""
    command = ["vllm", "serve", base, "--port", str(port), "--enable-lora",
               "--max-lora-rank", str(vllm_lora_rank(rank)), "--max-loras", str(len(adapters)),
               "--structured-outputs-config.backend", "guidance", "--lora-modules"]
    command += [f"{name}={path}" for name, path in adapters.items()]
    return command


def robot_parameters(url: str, name: str, adapter: str) -> list[str]:
    """The controller's -p arguments for a robot on this server."""
    return ["model_backend:=openai", f"server_url:={url}", f"server_model:={name}",
            f"adapter:={adapter}"]


def shell(command: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)

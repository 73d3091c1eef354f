"""A real llama.cpp OpenAI-compatible server for the tests (python -m llama_cpp.server,
started with robot_sft.serving's command line, the one docs/fleet.md gives operators).

The model is a random LoRA (benchmarks.latency.random_adapter, seeded) on the embedded
SmolLM2, merged into a q8_0 GGUF by robot_sft.inference.gguf_export: its export is cached
by content, so only the first run pays for it (~40 s). Its answers are the base model's
(the LoRA is tiny): under the response grammar they are well formed, not meaningful -
the tests check transport and the node, comparing with what the same server answers.

Skipped when the server extra is not installed, except under ROBOT_SFT_REQUIRE_LLAMA_CPP=1
(scripts/test.sh in CI), where that fails.
"""
import os
from pathlib import Path

import pytest

from robot_sft.node_processes import NodeProcesses, free_port, wait_until_serving
from robot_sft.serving import llama_cpp_server_command

MODEL_NAME = "robot"
REQUIRED = os.environ.get("ROBOT_SFT_REQUIRE_LLAMA_CPP") == "1"


def require_llama_server() -> None:
    try:
        import llama_cpp.server.app  # noqa: F401 (the server extra's dependencies)
    except ImportError as exc:
        reason = (f"llama.cpp's server does not import ({exc}): pip install "
                  f"'llama-cpp-python[server]==0.3.36' (scripts/install.sh does)")
        if REQUIRED:
            pytest.fail(f"ROBOT_SFT_REQUIRE_LLAMA_CPP=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def served_adapter(root: Path) -> tuple[Path, Path]:
    """(adapter directory, its merged GGUF)."""
    from benchmarks.latency import random_adapter
    from robot_sft.inference.gguf_export import ensure_gguf

    adapter = random_adapter(Path(root) / "adapter", "embedded")
    return adapter, ensure_gguf(adapter)


def start_server(nodes: NodeProcesses, gguf: Path, name: str = "server", port: int = 0,
                 n_threads: int = 1) -> str:
    """Start the server as process `name` of `nodes`; its URL once it answers. One thread:
    llama.cpp's threads meet at spinning barriers, and on a shared 2-core machine a second
    thread made a 14-token prompt take 2-17 s instead of 0.1-0.3 s (measured)."""
    port = port or free_port()
    process = nodes.start(name, llama_cpp_server_command(gguf, MODEL_NAME, port=port,
                                                         n_threads=n_threads))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{nodes.log(name)}") from None
    return url

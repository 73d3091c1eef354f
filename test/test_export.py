"""python -m robot_sft.export: an adapter for an inference server, and the command line
that serves it (robot_sft.serving, the one the fleet tests start)."""
import json
import shlex

import pytest

from robot_sft.export import main, vllm_problem
from robot_sft.serving import llama_cpp_server_command, vllm_lora_rank

pytest.importorskip("peft")
from tiny_models import make_tiny_adapter  # noqa: E402


def printed(capsys) -> dict:
    """The export's output lines, by their first word."""
    lines = capsys.readouterr().out.splitlines()
    return {line.split(":")[0]: line.split(":", 1)[1].strip() for line in lines}


def test_vllm_export_is_a_peft_adapter_on_the_base_vllm_serves(tmp_path, capsys):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = make_tiny_adapter(tmp_path)  # rank 4 on a local base directory
    out = tmp_path / "vllm"
    assert main(["--adapter", str(adapter), "--format", "vllm", "--name", "robot1",
                 "--out", str(out)]) == 0
    lines = printed(capsys)
    exported = out / "robot1"
    config = json.loads((exported / "adapter_config.json").read_text())
    base = str((tmp_path / "base").resolve())
    assert config["base_model_name_or_path"] == base and config["r"] == 4
    assert (exported / "robot_sft.json").is_file() and (exported / "tokenizer.json").is_file()
    assert shlex.split(lines["serve it"]) == [
        "vllm", "serve", base, "--port", "8000", "--enable-lora", "--max-lora-rank", "8",
        "--max-loras", "1", "--structured-outputs-config.backend", "guidance",
        "--lora-modules", f"robot1={exported.resolve()}"]
    assert "-p model_backend:=openai" in lines["robots"] and "server_model:=robot1" in lines["robots"]
    # The directory is the adapter: the same weights as the original on the same base.
    ids = torch.tensor([[5, 9, 13, 40]])
    outputs = []
    for directory in (adapter, exported):
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), directory)
        with torch.no_grad():
            outputs.append(model(ids).logits)
    assert torch.equal(outputs[0], outputs[1])


def test_an_adapter_vllm_cannot_serve_is_refused_in_one_line(tmp_path, capsys):
    adapter = make_tiny_adapter(tmp_path)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["use_dora"] = True
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    assert main(["--adapter", str(adapter), "--format", "vllm", "--out",
                 str(tmp_path / "vllm")]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"cannot export {adapter}: vLLM does not serve this adapter (it uses DoRA)"
    assert vllm_problem({"peft_type": "LORA", "target_modules": ["q_proj", "lm_head"]})
    assert vllm_problem({"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"]}) is None


def test_vllm_lora_ranks():
    assert [vllm_lora_rank(r) for r in (1, 4, 16, 17, 300)] == [1, 8, 16, 32, 320]
    with pytest.raises(ValueError, match="above vLLM's largest"):
        vllm_lora_rank(1024)


@pytest.mark.slow  # the embedded SmolLM2 merged (the export is cached by content)
def test_gguf_export_prints_the_llama_cpp_server_command(tmp_path, capsys):
    from benchmarks.latency import random_adapter
    from robot_sft.inference.gguf_export import ensure_gguf

    adapter = random_adapter(tmp_path / "adapter", "embedded")
    assert main(["--adapter", str(adapter), "--format", "gguf", "--name", "robot1",
                 "--port", "8011"]) == 0
    lines = printed(capsys)
    gguf = ensure_gguf(adapter)
    assert lines["GGUF"] == str(gguf)
    assert shlex.split(lines["serve it"]) == ["python", *llama_cpp_server_command(
        gguf, "robot1", "0.0.0.0", 8011, python="x")[1:]]
    assert "--interrupt_requests False" in lines["serve it"]
    assert "server_url:=http://SERVER:8011" in lines["robots"]


@pytest.mark.slow
def test_vllm_export_of_an_embedded_adapter_ships_the_base_it_was_trained_on(tmp_path, capsys):
    """The embedded base is the Q4_1 GGUF dequantised: vLLM gets those weights, not the
    hub's original."""
    from benchmarks.latency import random_adapter
    from robot_sft.models import ensure_embedded_cache

    adapter = random_adapter(tmp_path / "adapter", "embedded")
    out = tmp_path / "vllm"
    assert main(["--adapter", str(adapter), "--format", "vllm", "--out", str(out)]) == 0
    base = out / "base"
    assert shlex.split(printed(capsys)["serve it"])[2] == str(base.resolve())
    cached = ensure_embedded_cache()
    assert (base / "model.safetensors").read_bytes() == (cached / "model.safetensors").read_bytes()

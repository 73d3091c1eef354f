"""Multi-process training through the shipped accelerate configs (training/configs/accelerate/),
on 2 CPU processes over gloo: `accelerate launch` with ddp.yaml, the self-launch
`--accelerate_config` path, and resume. FSDP: accelerate runs FSDP only on accelerators
(on a CPU its state is MULTI_CPU and the FSDP plugin is dropped), so here fsdp.yaml is
checked up to the plugin the workers build from it: FSDP2, one shard unit per decoder
layer of our models. The sharded steps themselves need GPUs (docs/training.md says how)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robot_sft.adapter import read_metadata

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = ROOT / "training" / "configs" / "accelerate"


def run_args(base, out, *extra) -> list[str]:
    return ["--model", str(base), "--output_dir", str(out), "--num_examples", "80", "--max_length", "256",
            "--per_device_train_batch_size", "4", "--max_steps", "4", "--save_steps", "2",
            "--eval_samples", "-1", "--num_threads", "1", "--dtype", "float32", "--lora_dropout", "0.1",
            *extra]


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env = {k: v for k, v in env.items() if not k.startswith("ACCELERATE_")}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def weights(directory):
    from safetensors.torch import load_file

    return load_file(str(Path(directory) / "adapter_model.safetensors"))


@pytest.mark.slow  # 2 x 2 processes importing torch + TRL: ~1-2 min on 2 shared cores
def test_accelerate_ddp_on_two_cpu_processes_and_resume(tiny_base, tmp_path):
    reference = tmp_path / "reference"
    done = run([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(ACCELERATE / "ddp.yaml"), "--num_processes", "2", "-m", "training.train",
                *run_args(tiny_base, reference, "--keep_checkpoints")])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "x 2 processes" in done.stdout
    metadata = read_metadata(reference)
    assert metadata.metrics["world_size"] == 2 and metadata.metrics["train_steps"] == 4
    assert (reference / "checkpoint-2" / "rng_state_1.pth").is_file()  # one RNG state per rank

    # The same run cut after checkpoint-2, resumed through the self-launch path.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    subprocess.run(["cp", "-r", str(reference / "checkpoint-2"), str(resumed)], check=True)
    done = run([sys.executable, "-m", "training.train",
                *run_args(tiny_base, resumed, "--resume", "--num_processes", "2",
                          "--accelerate_config", str(ACCELERATE / "ddp.yaml"))])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "starting 2 data-parallel processes (accelerate launch" in done.stdout
    assert f"resuming from {resumed / 'checkpoint-2'}" in done.stdout
    assert read_metadata(resumed).metrics["train_steps"] == 4
    a, b = weights(reference), weights(resumed)
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-6, key


@pytest.mark.parametrize("config_file, fsdp", [("ddp.yaml", False), ("fsdp.yaml", True)])
def test_the_accelerate_configs_give_the_workers_ddp_or_fsdp2(config_file, fsdp, monkeypatch):
    """What `accelerate launch --config_file X --num_processes 8` hands each worker, and,
    for fsdp.yaml, the FSDP2 plugin the Trainer's Accelerator builds from it."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env
    from transformers import LlamaConfig, LlamaForCausalLM

    args = launch_command_parser().parse_args(["--config_file", str(ACCELERATE / config_file),
                                               "--num_processes", "8", "-m", "training.train"])
    args, _, _ = _validate_launch_command(args)
    assert args.num_processes == 8 and args.multi_gpu is not fsdp and args.use_fsdp is fsdp
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"  # the training config decides the dtype
    assert (env.get("ACCELERATE_USE_FSDP") == "true") is fsdp
    if not fsdp:
        return
    for key, value in env.items():
        if key.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and "FULL_STATE_DICT" in str(plugin.state_dict_type)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2))
    plugin.set_auto_wrap_policy(model)
    units = [name for name, module in model.named_modules() if plugin.auto_wrap_policy(module, False, 0)]
    assert units == ["model.layers.0", "model.layers.1", "model.layers.2"]

"""python -m training.train end to end: real TRL steps on a tiny random Llama (fast), bad input
(one-line errors), the compact LM head, resume after kill -9 and 2-process DDP (slow), and the
embedded SmolLM2 (slow)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robot_sft.adapter import REQUIRED_FILES, read_metadata
from training.config import parse_config
from training.train import main

ROOT = Path(__file__).resolve().parents[1]
ROW = {"messages": [{"role": "user", "content": "go forward 2 meters"},
                    {"role": "assistant", "content": "Move forward 2 m."}]}


def tiny_args(base, output_dir, *extra) -> list[str]:
    """A run of a few real optimizer steps on the tiny model and generated data."""
    return ["--model", str(base), "--output_dir", str(output_dir), "--num_examples", "80",
            "--max_length", "256", "--per_device_train_batch_size", "4", "--max_steps", "3",
            "--eval_samples", "4", "--max_new_tokens", "4", "--logging_steps", "1",
            "--num_threads", "1", "--num_processes", "1", *extra]


def weights(adapter_dir):
    from safetensors.torch import load_file

    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


def test_a_few_steps_write_a_loadable_adapter_dir(tiny_base, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(tiny_base, out)) == 0
    for name in (*REQUIRED_FILES, "README.md", "loss_curve.png", "chat_template.jinja"):
        assert (out / name).is_file(), name
    assert not list(out.glob("checkpoint-*"))  # cleaned up after success
    metadata = read_metadata(out)
    assert metadata.base_model == str(tiny_base.resolve())
    assert metadata.chat_template == "chatml" and metadata.system_prompt == ""
    assert len(metadata.data_sha256) == 64
    assert metadata.config["max_steps"] == 3
    assert metadata.metrics["train_steps"] == 3
    assert set(metadata.metrics["heldout"]) >= {"parse_rate", "intent_accuracy", "exact_accuracy"}
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: peft" in card and "base_model:" in card
    printed = capsys.readouterr().out
    # dtype auto on a CPU: measured, said, and recorded
    assert "dtype auto: bf16 autocast measured" in printed and "held-out (4 rows)" in printed
    assert f"on cpu ({metadata.metrics['dtype']}," in printed
    assert metadata.metrics["dtype"] in ("float32", "bfloat16")
    # the run's held-out rows travel with the adapter: heldout:ADAPTER reads them even after
    # the generator changes (regenerating from the config would then draw other rows)
    from training.datasets import HELDOUT_FILE, heldout_items

    stored = heldout_items(metadata.config, out, metadata.data_sha256)
    assert (out / HELDOUT_FILE).is_file() and stored
    redrawn = heldout_items(metadata.config, None, metadata.data_sha256)
    assert [(i.command, i.expected) for i in stored] == [(i.command, i.expected) for i in redrawn]
    assert "data generator has changed" not in capsys.readouterr().err
    heldout_items(metadata.config, None, "0" * 64)  # another generator drew the training rows
    assert "data generator has changed" in capsys.readouterr().err

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template  # the template travels with the adapter
    assert any("lora_B" in name for name, _ in model.named_parameters())


def test_training_is_deterministic_and_learns(tiny_base, tmp_path):
    """Same seed -> same adapter; the LoRA update is non-zero (real optimizer steps)."""
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(tiny_args(tiny_base, first, "--eval_samples", "-1")) == 0
    assert main(tiny_args(tiny_base, second, "--eval_samples", "-1")) == 0
    a, b = weights(first), weights(second)
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    assert any(k for k in a if "lora_B" in k and a[k].abs().sum() > 0)


def test_loraplus_gives_the_b_matrices_their_own_learning_rate(tiny_base, tmp_path):
    """--loraplus_lr_ratio 4: the lora_B matrices step 4x the learning rate of the lora_A
    matrices, and the Trainer trains with that optimizer rather than building its own."""
    from training.train import build_run

    run = build_run(parse_config(tiny_args(tiny_base, tmp_path / "run", "--learning_rate", "1e-3",
                                           "--loraplus_lr_ratio", "4")))
    optimizer = run.trainer.create_optimizer()
    assert optimizer is run.trainer.optimizer
    names = {id(p): name for name, p in run.trainer.model.named_parameters()}
    rates = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            rates.setdefault("lora_B" in names[id(p)], set()).add(group["lr"])
    (rate_a,), (rate_b,) = rates[False], rates[True]
    assert rate_a == pytest.approx(1e-3) and rate_b == pytest.approx(4e-3)


def test_a_data_file_and_the_all_token_loss(tiny_base, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(ROW) for _ in range(8)) + "\n")
    out = tmp_path / "run"
    assert main(tiny_args(tiny_base, out, "--data", str(data), "--assistant_only_loss", "false",
                          "--system_prompt", "")) == 0
    metadata = read_metadata(out)
    assert metadata.system_prompt == "" and metadata.config["data"] == str(data)
    assert "heldout" not in metadata.metrics  # no held-out data given


def test_compact_lm_head_gives_the_same_loss_and_gradients(monkeypatch):
    """project_labelled_positions_only() changes speed, not results."""
    import torch
    import trl.trainer.utils as trl_utils
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.trl_patches import project_labelled_positions_only

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2))
    trl_utils.add_fused_lm_head(model)
    ids = torch.randint(0, 97, (3, 12))
    labels = ids.clone()
    labels[:, :8] = -100

    def loss_and_grads():
        model.zero_grad()
        loss = model(input_ids=ids, labels=labels, fused_lm_head=True).loss
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    monkeypatch.setattr(trl_utils, "_use_triton", lambda device: False)
    full_loss, full_grads = loss_and_grads()
    project_labelled_positions_only()
    assert trl_utils._use_triton(torch.device("cpu"))
    compact_loss, compact_grads = loss_and_grads()
    torch.testing.assert_close(compact_loss, full_loss)
    for compact, full in zip(compact_grads, full_grads):
        torch.testing.assert_close(compact, full, rtol=1e-4, atol=1e-6)


def test_bf16_lm_head_gradient_on_cpu_matches_the_upcast_path(monkeypatch):
    """bf16_lm_head_gradient_on_cpu() changes speed, not results (beyond bf16 rounding)."""
    import torch
    import trl.kernels.chunked_logprob as kernel
    import trl.trainer.utils as trl_utils
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.trl_patches import bf16_lm_head_gradient_on_cpu

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=301, hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2)).to(torch.bfloat16)
    model.model.embed_tokens.weight.requires_grad_(False)
    trl_utils.add_fused_lm_head(model)
    monkeypatch.setattr(trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", 128)  # 3 vocabulary chunks
    ids = torch.randint(0, 301, (3, 12))
    labels = ids.clone()
    labels[:, :6] = -100
    calls = []

    def loss_and_grads():
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=labels, fused_lm_head=True).loss
        loss.backward()
        return loss.detach(), [p.grad.float() for p in model.parameters() if p.grad is not None]

    upcast_loss, upcast_grads = loss_and_grads()
    monkeypatch.setattr(kernel, "_addmm_fp32", kernel._addmm_fp32)  # restored after the test
    bf16_lm_head_gradient_on_cpu()
    patched = kernel._addmm_fp32
    monkeypatch.setattr(kernel, "_addmm_fp32", lambda *args: (calls.append(1), patched(*args)))
    bf16_loss, bf16_grads = loss_and_grads()
    assert calls, "the backward did not go through the patched GEMM"
    torch.testing.assert_close(bf16_loss, upcast_loss)
    assert len(bf16_grads) == len(upcast_grads) > 0
    for bf16, upcast in zip(bf16_grads, upcast_grads):
        torch.testing.assert_close(bf16, upcast, rtol=3e-2, atol=1e-3)


@pytest.mark.parametrize("problem, extra, words", [
    ("missing data file", ["--data", "{tmp}/nope.jsonl"], ["nope.jsonl", "does not exist"]),
    ("empty data file", ["--data", "{tmp}/empty.jsonl"], ["empty.jsonl", "empty"]),
    ("no assistant turns", ["--data", "{tmp}/users.jsonl"], ["users.jsonl", "assistant"]),
    ("wrong type", ["--max_steps", "many"], ["max_steps", "integer"]),
    ("unknown option", ["--learning_rat", "1"], ["--learning_rat", "valid options"]),
    ("bad model path", ["--model", "{tmp}/no-such-model"], ["no-such-model", "does not exist"]),
    ("not a model dir", ["--model", "{tmp}"], ["not a model directory"]),
    ("unwritable output", ["--output_dir", "/proc/robot_sft_out"], ["/proc/robot_sft_out",
                                                                   "not writable"]),
])
def test_bad_input_is_one_line_and_nonzero(tiny_base, tmp_path, capsys, problem, extra, words):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "users.jsonl").write_text(json.dumps({"messages": [ROW["messages"][0]]}) + "\n")
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
    code = main(tiny_args(tiny_base, tmp_path / "out", *extra))
    err = capsys.readouterr().err.strip()
    assert code != 0, problem
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, (problem, err)


def test_the_command_line_entry_point_has_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "training.train", "--model", str(tmp_path / "x")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: model path {tmp_path / 'x'} does not exist"]


@pytest.mark.slow  # the hub client retries for ~45 s before it gives up
def test_offline_hub_id_fails_with_the_local_copy_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["--config", str(ROOT / "training/configs/tinyllama.yaml"), "--device", "cpu",
                 "--output_dir", str(tmp_path), "--num_examples", "20"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert "TinyLlama/TinyLlama-1.1B-Chat-v1.0" in err and "--model PATH" in err


@pytest.mark.slow  # two child processes importing torch + TRL: ~20 s
def test_benchmark_smoke_mode():
    done = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "project / tutorial" in done.stdout and "GFLOP/s" in done.stdout


# ------------------------------------------------------------------------------------------
# Slow: subprocesses, kill -9, DDP, the real embedded model
# ------------------------------------------------------------------------------------------

def cli(args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-m", "training.train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_resume_skips_a_checkpoint_killed_while_saving(tmp_path, capsys):
    """kill -9 during a save leaves checkpoint-N without trainer_state.json (written last)."""
    from training.config import TrainConfig
    from training.checkpoints import prepare_output_dir

    for step, complete in ((2, True), (4, True), (6, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    _, resume_from = prepare_output_dir(TrainConfig(output_dir=str(tmp_path), resume=True))
    assert resume_from == str(tmp_path / "checkpoint-4")
    assert "checkpoint-6: incomplete" in capsys.readouterr().out


@pytest.mark.slow
def test_resume_after_kill_9_ends_like_an_uninterrupted_run(tiny_base, tmp_path):
    steps = ["--max_steps", "8", "--save_steps", "2", "--eval_samples", "-1", "--lora_dropout", "0.1",
             "--keep_checkpoints"]
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    assert cli(tiny_args(tiny_base, reference, *steps)).wait(timeout=300) == 0

    victim = cli(tiny_args(tiny_base, crashed, *steps))
    deadline = time.time() + 300
    while not (crashed / "checkpoint-4" / "trainer_state.json").is_file():
        assert victim.poll() is None, victim.stdout.read()
        assert time.time() < deadline
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)  # kill -9: no cleanup, no final save
    victim.wait()
    assert not (crashed / "robot_sft.json").exists()

    resumed = cli(tiny_args(tiny_base, crashed, *steps, "--resume"))
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "resuming from" in output
    a, b = weights(reference), weights(crashed)
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-6, key
    loss = [read_metadata(d).metrics["train_steps"] for d in (reference, crashed)]
    assert loss == [8, 8]


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_gloo(tiny_base, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29517", "-m", "training.train",
                           *tiny_args(tiny_base, out, "--eval_samples", "4")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metadata = read_metadata(out)
    assert metadata.metrics["world_size"] == 2 and metadata.metrics["train_steps"] == 3


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2,
                    reason="needs 2 cores")
def test_num_processes_starts_data_parallel_workers_itself(tiny_base, tmp_path):
    """`python -m training.train --num_processes 2` is torchrun underneath: same result
    shape as the explicit torchrun run above, global batch as configured."""
    out = tmp_path / "self-launched"
    done = subprocess.run([sys.executable, "-m", "training.train",
                           *tiny_args(tiny_base, out, "--eval_samples", "4"), "--num_processes", "2"],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "starting 2 data-parallel processes" in done.stdout
    metadata = read_metadata(out)
    assert metadata.metrics["world_size"] == 2 and metadata.metrics["train_steps"] == 3
    assert metadata.config["num_processes"] == 2 and metadata.config["gradient_accumulation_steps"] == 1


def test_fewer_cores_than_processes_keep_the_global_batch(monkeypatch):
    import training.launch as T

    config = parse_config(["--num_processes", "2", "--gradient_accumulation_steps", "3",
                           "--device", "cpu"])
    monkeypatch.setattr(T, "usable_cores", lambda: 1)
    processes, planned = T.plan_processes(config)
    assert processes == 1 and planned.gradient_accumulation_steps == 6
    monkeypatch.setattr(T, "usable_cores", lambda: 8)
    processes, planned = T.plan_processes(config)
    assert processes == 2 and planned == config
    assert T.plan_processes(parse_config(["--num_processes", "1"])) == (1, parse_config(["--num_processes", "1"]))


@pytest.mark.slow
def test_embedded_model_trains_saves_reloads_and_generates(tmp_path):
    from peft import PeftModel

    from robot_sft.models import load_model
    from training.generation import generate_responses

    out = tmp_path / "embedded"
    assert main(["--output_dir", str(out), "--max_steps", "2", "--num_examples", "60", "--num_processes", "1",
                 "--per_device_train_batch_size", "4", "--eval_samples", "4",
                 "--max_new_tokens", "8"]) == 0
    metadata = read_metadata(out)
    assert metadata.base_model == "embedded"
    model = PeftModel.from_pretrained(load_model("embedded"), out)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    answers = generate_responses(model, tokenizer, ["stop", "go forward 1 m"],
                                 system_prompt=metadata.system_prompt, max_new_tokens=8)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores")
def test_ctrl_c_on_self_launched_workers_is_one_line(tiny_base, tmp_path):
    """SIGINT to `python -m training.train --num_processes 2` (torchrun underneath) stops
    the workers and says how to continue, without torchrun's SignalException traceback."""
    out = tmp_path / "interrupted"
    parent = subprocess.Popen([sys.executable, "-m", "training.train",
                               *tiny_args(tiny_base, out, "--max_steps", "100000"), "--num_processes", "2"],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(out.glob("checkpoint-*")) and time.time() < deadline:  # workers are training
        assert parent.poll() is None, parent.communicate()
        time.sleep(0.2)
    parent.send_signal(signal.SIGINT)
    _, err = parent.communicate(timeout=120)
    assert parent.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted; continue with --resume"

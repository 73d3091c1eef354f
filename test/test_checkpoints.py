"""--resume with a damaged checkpoint: the newest one that loads is resumed, the damaged one is
named with the reason, and the run finishes; a missing RNG state resumes with a warning.
Real short runs of the tiny random Llama (training/checkpoints.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robot_sft.adapter import read_metadata
from training.train import main

STEPS = ["--max_steps", "4", "--save_steps", "2", "--eval_samples", "-1", "--keep_checkpoints"]


def tiny_args(base, output_dir, *extra) -> list[str]:
    return ["--model", str(base), "--output_dir", str(output_dir), "--num_examples", "60",
            "--max_length", "256", "--per_device_train_batch_size", "4", "--logging_steps", "1",
            "--num_threads", "1", "--num_processes", "1", *STEPS, *extra]


@pytest.fixture(scope="module")
def trained(tiny_base, tmp_path_factory):
    """A finished 4-step run that kept checkpoint-2 and checkpoint-4."""
    out = tmp_path_factory.mktemp("checkpoints") / "run"
    assert main(tiny_args(tiny_base, out)) == 0
    assert (out / "checkpoint-2").is_dir() and (out / "checkpoint-4").is_dir()
    return tiny_base, out


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


DAMAGE = {
    "invalid trainer_state.json": (lambda c: (c / "trainer_state.json").write_text("{\"global_step\": 4,"),
                                   "trainer_state.json is not valid JSON"),
    "truncated adapter": (lambda c: truncate(c / "adapter_model.safetensors"),
                          "adapter_model.safetensors is truncated"),
    "truncated optimizer": (lambda c: truncate(c / "optimizer.pt"), "optimizer.pt is truncated"),
    "empty trainer state": (lambda c: (c / "trainer_state.json").write_bytes(b""),
                            "trainer_state.json is empty"),
    "empty scheduler state": (lambda c: (c / "scheduler.pt").write_bytes(b""), "scheduler.pt is empty"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_resume_falls_back_to_the_newest_checkpoint_that_loads(trained, tmp_path, capsys, kind):
    base, finished = trained
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    (out / "robot_sft.json").unlink()
    damage, reason = DAMAGE[kind]
    damage(out / "checkpoint-4")
    capsys.readouterr()

    assert main(tiny_args(base, out, "--resume")) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"skipping {out / 'checkpoint-4'}: {reason}" in printed, printed
    assert f"resuming from {out / 'checkpoint-2'}" in printed
    assert read_metadata(out).metrics["train_steps"] == 4


def test_a_missing_rng_state_resumes_with_a_warning(trained, tmp_path, capsys):
    base, finished = trained
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    (out / "robot_sft.json").unlink()
    (out / "checkpoint-4" / "rng_state.pth").unlink()
    capsys.readouterr()

    assert main(tiny_args(base, out, "--resume", "--max_steps", "6")) == 0
    printed = capsys.readouterr().out
    assert f"warning: {out / 'checkpoint-4'} has no rng_state.pth" in printed, printed
    assert f"resuming from {out / 'checkpoint-4'}" in printed
    assert read_metadata(out).metrics["train_steps"] == 6


def test_intact_checkpoints_have_no_problem(trained):
    from training.checkpoints import checkpoint_problem

    _, finished = trained
    assert [checkpoint_problem(finished / f"checkpoint-{n}") for n in (2, 4)] == [None, None]


def test_every_checkpoint_damaged_starts_from_scratch(trained, tmp_path, capsys):
    base, finished = trained
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    for step in (2, 4):
        truncate(out / f"checkpoint-{step}" / "optimizer.pt")
    capsys.readouterr()
    assert main(tiny_args(base, out, "--resume")) == 0
    printed = capsys.readouterr().out
    assert "no loadable checkpoint" in printed and "skipping" in printed
    assert read_metadata(out).metrics["train_steps"] == 4

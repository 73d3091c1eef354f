"""The output directory and its checkpoints: check it is writable, pick what to resume.

A checkpoint can be unusable in ways the Trainer only notices with a traceback halfway
through loading it: a run killed while saving (no trainer_state.json, which the Trainer
writes last), a disk that filled up (a truncated adapter_model.safetensors or
optimizer.pt, an empty file), a hand-edited or half-written trainer_state.json.
`checkpoint_problem` finds these by reading the files' own framing (JSON, the
safetensors header, the zip directory and CRCs that torch.save writes) without
unpickling anything, so `--resume` can fall back to the newest checkpoint that loads
and say which ones it skipped and why. A missing RNG state still resumes (the Trainer
carries on without it) but not bit for bit, so it is reported as a warning.

Pure: no torch.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

from training.config import TrainConfig
from training.errors import TrainingError
from training.runtime import is_main_process, say, world

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
TORCH_SAVE_SUFFIXES = (".pt", ".pth", ".bin")  # torch.save's zip format


def checkpoints(output_dir: Path) -> list[Path]:
    """checkpoint-N directories, oldest (smallest N) first."""
    found = [p for p in output_dir.glob(CHECKPOINT_PREFIX + "*")
             if p.is_dir() and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint at `path` cannot be resumed, or None when it looks loadable."""
    if not (path / TRAINER_STATE).is_file():
        return "incomplete (the run was killed while saving it)"
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        name = file.relative_to(path).as_posix()
        if file.stat().st_size == 0:
            return f"{name} is empty"
        problem = _file_problem(file)
        if problem:
            return f"{name} {problem}"
    return None


def _file_problem(file: Path) -> str | None:
    if file.suffix == ".json":
        try:
            value = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"is not valid JSON ({exc})"
        if file.name == TRAINER_STATE and not isinstance(value, dict):
            return "is not a JSON object"
        return None
    if file.suffix == ".safetensors":
        return _safetensors_problem(file)
    if file.suffix in TORCH_SAVE_SUFFIXES:
        return _torch_save_problem(file)
    return None


def _safetensors_problem(file: Path) -> str | None:
    """safetensors: 8-byte header length, JSON header, then exactly the data it indexes."""
    size = file.stat().st_size
    with file.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return "is truncated (no header)"
        header_length = struct.unpack("<Q", head)[0]
        if 8 + header_length > size:
            return "is truncated (inside its header)"
        try:
            header = json.loads(f.read(header_length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "has a corrupt header"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    expected = 8 + header_length + max(ends, default=0)
    if size < expected:
        return f"is truncated ({size} of {expected} bytes)"
    return None


def _torch_save_problem(file: Path) -> str | None:
    """torch.save writes a zip archive: a truncated one has no central directory, a
    damaged one fails its CRCs. Older pickle-only files are not checked."""
    with file.open("rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return None
    try:
        with zipfile.ZipFile(file) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"is truncated or corrupt ({exc})"
    return f"is corrupt (CRC error in {bad})" if bad else None


def missing_rng_states(path: Path, world_size: int) -> list[str]:
    """The RNG-state files the Trainer looks for when resuming with `world_size` processes."""
    names = ["rng_state.pth"] if world_size <= 1 else [f"rng_state_{r}.pth" for r in range(world_size)]
    return [name for name in names if not (path / name).is_file()]


def resume_checkpoint(output_dir: Path) -> str | None:
    """The newest checkpoint that looks loadable; each newer one skipped is said with why."""
    for path in reversed(checkpoints(output_dir)):
        problem = checkpoint_problem(path)
        if problem:
            say(f"skipping {path}: {problem}")
            continue
        missing = missing_rng_states(path, world()[1])
        if missing:
            say(f"warning: {path} has no {', '.join(missing)}: resuming without the saved random "
                f"state, so dropout and data order differ from an uninterrupted run")
        say(f"resuming from {path}")
        return str(path)
    say(f"--resume: no loadable checkpoint in {output_dir}, starting from scratch")
    return None


def prepare_output_dir(config: TrainConfig) -> tuple[Path, str | None]:
    """Create and check the output directory before anything slow happens; return it and
    the checkpoint to resume from. A fresh run clears old checkpoints so a later
    --resume cannot pick up another run's state."""
    output_dir = Path(config.output_dir).expanduser()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"output directory {output_dir} is not writable: "
                            f"{exc.strerror or exc}") from exc
    if config.resume:
        return output_dir, resume_checkpoint(output_dir)
    found = checkpoints(output_dir)
    if found and is_main_process():
        say(f"removing {len(found)} old checkpoint(s) in {output_dir} (pass --resume to continue them)")
        for path in found:
            shutil.rmtree(path, ignore_errors=True)
    return output_dir, None

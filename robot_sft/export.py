"""Export a trained adapter for an inference server, and print how to serve it.

    python -m robot_sft.export --adapter outputs/embedded --format gguf [--name robot1]
    python -m robot_sft.export --adapter outputs/embedded --format vllm --out outputs/vllm

gguf: the adapter merged into its base as one GGUF file (robot_sft.inference.gguf_export:
the same export, cache and integrity record as the in-process llama_cpp backend), for
llama.cpp's OpenAI-compatible server on a CPU.
vllm: a PEFT LoRA directory vLLM loads as it is (--lora-modules NAME=DIR), with the base
it was trained on. For the embedded SmolLM2 that base is the weights training saw - the
Q4_1 GGUF dequantised (not the hub's bf16 original, which differs slightly) - written next
to the adapter as `base/`. A hub base is named by its id. vLLM loads LoRA on the plain
projections only: DoRA, trained embeddings (modules_to_save) or LoRA biases are refused here
rather than by the server.

Both print the server's command line (robot_sft.serving) and the robots' parameters.
Exit 1 with one line when the adapter cannot be exported.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from robot_sft.adapter import AdapterError, read_metadata
from robot_sft.models import ModelLoadError, is_embedded
from robot_sft.serving import (
    DEFAULT_PORT, llama_cpp_server_command, robot_parameters, shell, vllm_serve_command,
)

# Projections vLLM applies LoRA to in a Llama model.
VLLM_TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
# Adapter files vLLM does not read (training state, notes).
SKIPPED = {"training_args.bin", "README.md"}


def vllm_problem(config: dict) -> str | None:
    """Why vLLM would refuse this adapter_config.json (None: it loads it)."""
    if config.get("peft_type") != "LORA":
        return f"it is {config.get('peft_type')!r}, not LoRA"
    for key, what in (("use_dora", "DoRA"), ("modules_to_save", "whole trained modules "
                      "(modules_to_save)"), ("lora_bias", "LoRA biases")):
        if config.get(key):
            return f"it uses {what}"
    targets = config.get("target_modules") or []
    if isinstance(targets, str) or not set(targets) <= VLLM_TARGETS:
        return f"it adapts {targets!r}; vLLM adapts only {sorted(VLLM_TARGETS)}"
    return None


def export_vllm(adapter: Path, out: Path, name: str) -> tuple[Path, str, int]:
    """OUT/NAME (the adapter, base_model_name_or_path pointing at what vLLM serves) and,
    for the embedded base, OUT/base. Returns (adapter dir, base for vllm serve, rank)."""
    metadata = read_metadata(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    problem = vllm_problem(config)
    if problem:
        raise AdapterError(f"vLLM does not serve this adapter ({problem})")
    if is_embedded(metadata.base_model):
        from robot_sft.models import ensure_embedded_cache

        base_dir = out / "base"
        if not (base_dir / "config.json").is_file():
            shutil.copytree(ensure_embedded_cache(), base_dir, dirs_exist_ok=True)
        base = str(base_dir.resolve())
    elif Path(metadata.base_model).expanduser().is_dir():
        base = str(Path(metadata.base_model).expanduser().resolve())
    else:
        base = metadata.base_model  # a hub id: vllm serve downloads it
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    for path in adapter.iterdir():
        if path.is_file() and path.name not in SKIPPED and path.name != "adapter_config.json":
            shutil.copy2(path, target / path.name)
    config["base_model_name_or_path"] = base
    (target / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return target, base, int(config.get("r", 8))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robot_sft.export", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--adapter", required=True, help="adapter directory written by training")
    parser.add_argument("--format", required=True, choices=("gguf", "vllm"))
    parser.add_argument("--name", help="the adapter's name on the server (robots send it as "
                                       "server_model); default: the directory's name")
    parser.add_argument("--out", help="gguf: copy the file here (default: print the cached "
                                      "file); vllm: the output directory (default outputs/vllm)")
    parser.add_argument("--quantize", default="q8_0", choices=("q8_0", "q4_0", "f16", "f32"),
                        help="gguf: weight format (default q8_0, what the node uses)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    options = parser.parse_args(argv)
    adapter = Path(options.adapter)
    name = options.name or adapter.resolve().name
    try:
        if options.format == "gguf":
            from robot_sft.inference.gguf_export import ensure_gguf

            gguf = ensure_gguf(adapter, quant=options.quantize,
                               log=lambda text: print(text, file=sys.stderr))
            if options.out:
                out = Path(options.out)
                out = out / gguf.name if out.is_dir() else out
                shutil.copy2(gguf, out)
                gguf = out
            print(f"GGUF: {gguf}")
            server = llama_cpp_server_command(gguf.resolve(), name, "0.0.0.0", options.port,
                                              python="python")
        else:
            target, base, rank = export_vllm(adapter, Path(options.out or "outputs/vllm"), name)
            print(f"vLLM adapter: {target} (rank {rank}); base: {base}")
            server = vllm_serve_command(base, {name: str(target.resolve())}, rank, options.port)
    except (AdapterError, ModelLoadError, OSError, ValueError) as exc:
        print(f"cannot export {adapter}: {exc}", file=sys.stderr)
        return 1
    print(f"serve it:  {shell(server)}")
    robot = robot_parameters(f"http://SERVER:{options.port}", name, str(adapter.resolve()))
    print(f"robots:    controller --ros-args {' '.join('-p ' + p for p in robot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

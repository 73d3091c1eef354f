"""Randomly initialised models of a known shape, built locally: throughput needs the shape,
not the weights, so a GPU machine without a hub measures TinyLlama-1.1B from its config.

    python benchmarks/random_model.py tinyllama /tmp/tinyllama-random --tokenizer DIR

SHAPES holds the configs as data. The tokenizer is SmolLM2's byte-level BPE (from `DIR`, by
default the embedded model's cache); for a shape with a smaller vocabulary it is cut to
that many tokens (its first merges, as a BPE trained to that size would have), so ids fit
the embedding and rows tokenise to about as many tokens as with a real 32k tokenizer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Llama-architecture shapes. smollm2-135m is the embedded model's own config.json; tinyllama
# is TinyLlama-1.1B-Chat-v1.0's; tiny is for dry runs of the scripts on a CPU.
SHAPES = {
    "tinyllama": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                      num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                      max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, vocab_size=49152,
                         max_position_embeddings=8192, rms_norm_eps=1e-5, tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 100000.0}),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=32000, max_position_embeddings=2048,
                 tie_word_embeddings=False),
}


def default_tokenizer_dir() -> Path:
    from robot_sft.models import resolve_model_path

    return Path(resolve_model_path("embedded"))


def cut_tokenizer(source: Path, target: Path, vocab_size: int) -> None:
    """Copy the tokenizer files, keeping only its first `vocab_size` BPE tokens."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (source / name).is_file():
            (target / name).write_bytes((source / name).read_bytes())
    data = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    model = data["model"]
    if len(model["vocab"]) > vocab_size:
        model["vocab"] = {token: i for token, i in model["vocab"].items() if i < vocab_size}
        merges = [m if isinstance(m, list) else m.split(" ") for m in model["merges"]]
        model["merges"] = [m for m in merges if "".join(m) in model["vocab"]
                           and m[0] in model["vocab"] and m[1] in model["vocab"]]
        data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] < vocab_size]
    (target / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def build_random_model(shape: str, target, tokenizer_dir=None, device: str = "cpu",
                       dtype: str = "bfloat16") -> Path:
    """Write a random `shape` model (config, weights in `dtype`, tokenizer) to `target`;
    reuse it when already there."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    target = Path(target)
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    values = SHAPES[shape]
    cut_tokenizer(Path(tokenizer_dir or default_tokenizer_dir()), target, values["vocab_size"])
    tokenizer = AutoTokenizer.from_pretrained(target)
    config = LlamaConfig(**values, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    torch.manual_seed(0)
    with torch.device(device):  # a 1.1B model initialises in seconds on a GPU
        model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.save_pretrained(target)
    return target


def parameter_count(config) -> int:
    """N of the 4N-FLOP-per-token convention: every matmul weight a token passes through
    (attention, MLP, LM head), not the embedding lookup."""
    d, layers = config.hidden_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    per_layer = d * q + 2 * d * kv + q * d + 3 * d * config.intermediate_size
    return layers * per_layer + d * config.vocab_size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("target")
    parser.add_argument("--tokenizer", help="directory with SmolLM2's tokenizer.json (default: the "
                                            "embedded model's cache)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    print(build_random_model(args.shape, args.target, args.tokenizer, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())

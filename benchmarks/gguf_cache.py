"""The llama.cpp backend's GGUF cache: what a start costs, first and later.

    python benchmarks/gguf_cache.py                          # outputs/embedded, or a random LoRA
    python benchmarks/gguf_cache.py --adapter DIR --threads 1

In a fresh cache directory (the user's cache is not touched), one after the other:
  first start     export (merge + write GGUF + record its sha256) and load
  cached start    the integrity check (a stat) and load
  copied adapter  the adapter directory copied under another name: the same export is
                  found by content, no export
  integrity       what each check costs on this file: stat (every start) and sha256 (at
                  export, and when the file's size or mtime changed)
  truncated       the cached file cut in half: found, exported again, one warning
Times are wall-clock seconds of LlamaCppModel.from_adapter (the node's load); only the
ratios of one run count on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's robot_sft, not an installed copy


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", help="adapter dir (default: outputs/embedded if it "
                        "exists, else a random LoRA on the embedded base)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    args = parser.parse_args(argv)

    from robot_sft.inference.gguf_export import cache_problem, file_sha256
    from robot_sft.inference.llama_cpp_backend import LlamaCppModel

    with tempfile.TemporaryDirectory(prefix="gguf-cache-bench-") as tmp:
        tmp = Path(tmp)
        adapter = Path(args.adapter) if args.adapter else ROOT / "outputs" / "embedded"
        if args.adapter is None and not (adapter / "robot_sft.json").is_file():
            from benchmarks.latency import random_adapter

            adapter = random_adapter(tmp / "adapter", "embedded")
        cache = tmp / "cache"
        logs, warnings = [], []

        def start(directory):
            model, seconds = timed(LlamaCppModel.from_adapter, directory, n_threads=args.threads,
                                   gguf_dir=cache, log=logs.append, warn=warnings.append)
            exported = any(line.startswith("exporting") for line in logs)
            logs.clear()
            path = model.gguf_path
            model.close()
            return path, seconds, exported

        print(f"adapter {adapter}, cache {cache}, llama.cpp {args.threads} thread(s)")
        path, seconds, exported = start(adapter)
        print(f"first start (export + load):      {seconds:6.2f} s  exported: {exported}; "
              f"{path.name}, {path.stat().st_size / 1e6:.0f} MB")
        _, seconds, exported = start(adapter)
        print(f"cached start (check + load):      {seconds:6.2f} s  exported: {exported}")
        copy = tmp / "elsewhere" / "copied-adapter"
        shutil.copytree(adapter, copy)
        copied, seconds, exported = start(copy)
        print(f"copied adapter, other name:       {seconds:6.2f} s  exported: {exported}; "
              f"same file: {copied == path}")

        _, stat_s = timed(cache_problem, path)
        _, hash_s = timed(file_sha256, path)
        print(f"integrity check at every start:   {1000 * stat_s:6.2f} ms (size and mtime "
              f"against the record)")
        print(f"sha256 of the file:               {1000 * hash_s:6.0f} ms (at export; at a "
              f"start only when size or mtime changed)")

        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
        _, seconds, exported = start(adapter)
        print(f"truncated cache file:             {seconds:6.2f} s  exported: {exported}; "
              f"warnings: {warnings}")
        print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

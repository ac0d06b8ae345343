#!/usr/bin/env bash
# Creates .venv-tools (git-ignored) with the Python tools that *generate* committed files:
# the librosa mel fixtures and the baseline ONNX model. Neither set-up nor CI needs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-tools"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet librosa==0.11.0 onnx==1.23.2 onnxruntime==1.31.1 numpy==2.4.6 soundfile
echo "$venv/bin/python"

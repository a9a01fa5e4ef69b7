#!/usr/bin/env bash
# Installs kiln's peers for bench/compare.sh into bench/.venv, pinned, from PyPI: PyTorch 2 (the
# PyPI wheel is the CUDA build, several GB with its nvidia-* dependencies; it runs on the CPU)
# and JAX for the CPU. JAX's releases need Python 3.12 or newer: the venv uses pyenv's 3.12 when
# there is one, else python3.12 on PATH. Idempotent; needs network access to PyPI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
TORCH_VERSION=2.5.1
JAX_VERSION=0.4.38

python=""
for candidate in "$HOME"/.pyenv/versions/3.12*/bin/python3 "$(command -v python3.12 || true)"; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then python="$candidate"; break; fi
done
if [[ -z "$python" ]]; then
  echo "bench/setup.sh: error: no Python 3.12 found (pyenv install 3.12, or put python3.12 on PATH)" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating $venv with $python"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
echo "installing torch==$TORCH_VERSION and jax[cpu]==$JAX_VERSION (large downloads)..."
"$venv/bin/python" -m pip install --quiet "numpy<2.2" "torch==$TORCH_VERSION" "jax[cpu]==$JAX_VERSION"
"$venv/bin/python" - <<'PY'
import jax, torch
print(f"peers ready: torch {torch.__version__}, jax {jax.__version__} ({jax.devices()[0].platform})")
PY

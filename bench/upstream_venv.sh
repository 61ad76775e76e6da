#!/usr/bin/env bash
# Create bench/.venv-upstream with upstream Routilux 0.10.0 for side-by-side benchmarks.
# Usage: bench/upstream_venv.sh [python-interpreter]   (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-upstream"
python="${1:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# Pinned: the issue's baseline figures were measured against exactly these versions.
"$venv/bin/python" -m pip install --quiet "routilux==0.10.0" "serilux==0.3.1"
"$venv/bin/python" -c 'import routilux; print("upstream routilux", routilux.__version__, "ready in", "'"$venv"'")'

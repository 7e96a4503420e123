#!/usr/bin/env bash
# Idempotent setup of the pinned Python environment in .venv (or the folder given).
# Reinstalls only when requirements.txt changed since the last successful install.
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=${PYTHON:-python3}
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/snakemake" ]; then
  exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# torch first and pinned exactly: a looser spec would pull a multi-GB CUDA build on a CPU
# machine. On a GPU cluster, install the CUDA wheel of the same release beforehand.
"$venv/bin/python" -m pip install -q "$(grep -E '^torch==' requirements.txt)"
"$venv/bin/python" -m pip install -q -r requirements.txt
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"

#!/usr/bin/env bash
# Creates the interop venv: Python 3.11 + torch 2.13.0 (CPU build) + transformers + megatron-core + pytest,
# pinned by Tests/Interop/requirements.lock.txt and installed --no-deps (the lock is the complete closure).
#
# PyPI's torch is the CUDA build (gigabytes, and `import torch` fails without the nvidia libraries), so the
# CPU wheel is looked for locally: $TORCH_WHEEL_DIR, pip's find-links, ~/ , then a shallow search from /.
#   usage: scripts/setup-venv.sh [VENV_DIR]      (default .venv)
set -euo pipefail
VENV="${1:-.venv}"
LOCK="$(dirname "$0")/../Tests/Interop/requirements.lock.txt"
TORCH_VERSION="2.13.0"

python_311() {
  if [ -n "${INTEROP_PYTHON:-}" ]; then echo "$INTEROP_PYTHON"; return; fi
  for c in python3.11 python3 python; do
    if command -v "$c" >/dev/null 2>&1 && \
       [ "$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "3.11" ]; then
      command -v "$c"; return
    fi
  done
  echo "setup-venv: Python 3.11 not found (the CPU torch wheel is cp311); set INTEROP_PYTHON" >&2; return 1
}

torch_wheel() {
  local pat="torch-${TORCH_VERSION}+cpu-cp311-cp311-*.whl" d w dirs=()
  [ -n "${TORCH_WHEEL_DIR:-}" ] && dirs+=("$TORCH_WHEEL_DIR")
  for d in ${PIP_FIND_LINKS:-} $("$PY" -m pip config get global.find-links 2>/dev/null || true); do dirs+=("${d#file://}"); done
  [ -n "${HOME:-}" ] && dirs+=("$HOME")
  for d in "${dirs[@]}"; do
    [ -d "$d" ] || continue
    w="$(find "$d" -maxdepth 3 -name "$pat" 2>/dev/null | sort | head -1)"
    [ -n "$w" ] && { echo "$w"; return; }
  done
  w="$(find / -maxdepth 3 -path /proc -prune -o -name "$pat" -print 2>/dev/null | sort | head -1)"
  [ -n "$w" ] && { echo "$w"; return; }
  echo "setup-venv: CPU torch wheel $pat not found; set TORCH_WHEEL_DIR to a folder holding it" >&2; return 1
}

PY="$(python_311)"
WHEEL="$(torch_wheel)"
echo "setup-venv: $PY, torch wheel $WHEEL"
rm -f "$VENV/.complete"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --no-deps "$WHEEL"
grep -v -E '^torch==' "$LOCK" > "$VENV/requirements.notorch.txt"
"$VENV/bin/python" -m pip install -q --no-deps -r "$VENV/requirements.notorch.txt"
"$VENV/bin/python" -c 'import torch, transformers, megatron.core, pytest; print("venv ok: torch", torch.__version__, "transformers", transformers.__version__, "megatron-core", megatron.core.__version__)' 2>&1 | grep -v Warning
touch "$VENV/.complete"

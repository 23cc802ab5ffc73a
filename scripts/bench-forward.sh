#!/usr/bin/env bash
# Forward-pass benchmark: tokens/s of `ckpt-bridge forward` against PyTorch CPU fp32 (transformers) on the
# same synthetic model, the same prompt and the same thread count, as a ratio from one run of each.
#
#   usage: scripts/bench-forward.sh CKPT_BRIDGE OUTDIR
#
# 1. synthesizes a real-shaped model with `CKPT_BRIDGE synth` (default: Qwen3-VL-8B shapes, 2 text layers,
#    bf16 as on the Hub: 4.4 GB, with the full 151936 x 4096 lm_head; reused when OUTDIR already has it),
# 2. writes the prompt (input_ids I64 [1, S], ForwardInputs.save's layout; optionally an image),
# 3. runs `CKPT_BRIDGE forward` (OPENBLAS_NUM_THREADS = N) and then transformers with
#    torch.set_num_threads(N), each in its own process, and prints forward-only and end-to-end tokens/s
#    and their ratio (ours / torch; >= 1.0 means ckpt-bridge is at least as fast), after checking that
#    both produced the same logits. Results: OUTDIR/bench-forward.json.
#
# Settings (environment): BENCH_PRESET (qwen3-vl-8b | qwen3-vl-30b-a3b), BENCH_LAYERS (2), BENCH_DTYPE
# (bf16 | fp32), BENCH_TOKENS (128), BENCH_IMAGE (0 = text only, else the side in pixels of a test image),
# BENCH_THREADS (default: nproc), BENCH_REPEAT (torch forwards per process; >1 also reports a warm one),
# BENCH_RUNS (alternating runs of each side, best shown; default 1 = the issue's one-run ratio), VENV (.venv).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CKPT_BRIDGE OUTDIR" >&2
  exit 2
fi
CLI="$1"
OUT="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PRESET="${BENCH_PRESET:-qwen3-vl-8b}"
LAYERS="${BENCH_LAYERS:-2}"
DTYPE="${BENCH_DTYPE:-bf16}"
TOKENS="${BENCH_TOKENS:-128}"
IMAGE="${BENCH_IMAGE:-0}"
THREADS="${BENCH_THREADS:-$(nproc)}"
REPEAT="${BENCH_REPEAT:-1}"
RUNS="${BENCH_RUNS:-1}"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

[ -x "$CLI" ] || { echo "bench-forward: $CLI is not an executable (build it: swift build -c release --product ckpt-bridge)" >&2; exit 2; }
if [ ! -f "$VENV/.complete" ]; then
  echo "bench-forward: creating the venv $VENV (torch CPU + transformers)"
  "$ROOT/scripts/setup-venv.sh" "$VENV"
fi
mkdir -p "$OUT"

MODEL="$OUT/synth-$PRESET-l$LAYERS-$DTYPE"
if [ -f "$MODEL/config.json" ]; then
  echo "bench-forward: reusing $MODEL"
else
  "$CLI" synth "$MODEL" --preset "$PRESET" --layers "$LAYERS" --dtype "$DTYPE" --seed 0
fi

# Both runtimes read the same files; start both from the page cache (ours reads weights during the forward
# pass, torch during its load, so a cold cache would otherwise count against ours only).
cat "$MODEL"/*.safetensors > /dev/null

INPUTS="$OUT/inputs-t$TOKENS-i$IMAGE.safetensors"
"$PY" "$HERE/bench_forward_torch.py" inputs "$MODEL" "$INPUTS" --tokens "$TOKENS" --image "$IMAGE"

"$PY" "$HERE/bench_forward_torch.py" bench --cli "$CLI" "$MODEL" "$INPUTS" --threads "$THREADS" \
  --outdir "$OUT" --repeat "$REPEAT" --runs "$RUNS"

#!/usr/bin/env bash
# Streamed verification at scale: `verify` of a synthetic Qwen3-VL-235B-A22B-shaped checkpoint (real shapes,
# ~4.9 GB of bf16 per text layer) against its own torch_dist import, at --layers 2 and 4. Prints wall time
# and peak RSS (GNU time) of each, and extrapolates the time of the full 94 layers from the per-layer
# difference. Peak RSS must be flat (one layer's fp32 working set plus activations, not the model).
#
#   usage: scripts/bench-verify-large.sh CKPT_BRIDGE WORK_DIR
#
# Needs ~50 GB free in WORK_DIR (the 4-layer input and its import, ~47 GB; the 2-layer pair is deleted
# first); skipped with a message when there is less. The inputs are deleted at the end. The checkpoints
# are read from the page cache where they fit: on a machine with less memory than the model, the full
# run reads from disk, so add the disk's time for 470 GB to the extrapolation.
# Settings: BENCH_LARGE_LAYERS ("2 4"), BENCH_LARGE_PRESET (qwen3-vl-235b-a22b), BENCH_LARGE_KEEP=1 keeps the inputs.
set -euo pipefail
CLI="$1"
WORK="$2"
PRESET="${BENCH_LARGE_PRESET:-qwen3-vl-235b-a22b}"
LAYERS="${BENCH_LARGE_LAYERS:-2 4}"
mkdir -p "$WORK"
FREE=$(df -Pk "$WORK" | awk 'NR==2 {print $4}')
if [ "$FREE" -lt $((50 * 1024 * 1024)) ]; then
  echo "verify at scale: skipped ($(awk -v k="$FREE" 'BEGIN{printf "%.0f", k/1048576}') GiB free in $WORK, needs ~50 GiB)"
  exit 0
fi
REAL=$("$CLI" synth --help | awk -v p="$PRESET" '$1 == p {print $3}')
REAL="${REAL:-94}"
declare -A WALL RSS
for L in $LAYERS; do
  HF="$WORK/$PRESET-l$L" MG="$WORK/$PRESET-l$L-megatron"
  rm -rf "$HF" "$MG"
  "$CLI" synth "$HF" --preset "$PRESET" --layers "$L" >/dev/null
  "$CLI" import "$HF" "$MG" --quiet >/dev/null
  /usr/bin/time -f "%e %M" -o "$WORK/verify-time.txt" "$CLI" verify "$HF" "$MG" > "$WORK/verify-l$L.txt"
  WALL[$L]=$(cut -d' ' -f1 "$WORK/verify-time.txt")
  RSS[$L]=$(cut -d' ' -f2 "$WORK/verify-time.txt")
  BYTES=$(du -sb "$HF" | cut -f1)
  printf 'verify %s --layers %s (%.1f GB HF + its TP1 import): %s s, peak RSS %.3f GiB; %s\n' "$PRESET" "$L" \
    "$(awk -v b="$BYTES" 'BEGIN{print b/1e9}')" "${WALL[$L]}" "$(awk -v k="${RSS[$L]}" 'BEGIN{print k/1048576}')" \
    "$(tail -1 "$WORK/verify-l$L.txt")"
  [ "${BENCH_LARGE_KEEP:-0}" = 1 ] || rm -rf "$HF" "$MG"
done
set -- $LAYERS
if [ $# -ge 2 ]; then
  A="$1" B="${!#}"
  awk -v a="$A" -v b="$B" -v ta="${WALL[$A]}" -v tb="${WALL[$B]}" -v ra="${RSS[$A]}" -v rb="${RSS[$B]}" -v n="$REAL" 'BEGIN {
    per = (tb - ta) / (b - a); fixed = ta - a * per
    printf "verify at scale: %.1f s per text layer, %.1f s fixed (vision, embeddings, lm_head); %d layers: ~%.0f s (%.1f min) from the page cache; peak RSS %+.1f%% from %d to %d layers\n",
      per, fixed, n, fixed + n * per, (fixed + n * per) / 60, (rb - ra) * 100 / ra, a, b }'
fi

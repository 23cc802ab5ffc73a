#!/usr/bin/env bash
# make bench: conversion speed and memory on a synthetic Qwen3-VL-30B-A3B-shaped checkpoint (real shapes,
# N text layers, default 4 = 7.3 GB, bf16), as ratios measured in the same run (median of 5 alternating runs):
#   - import to torch_dist at TP1·EP1 and TP2·EP4 (and TP1·EP1 without integrity.json, to show its SHA-256 cost), and export back (each checked bit-exact with diff),
#     against `cp -r` of the same input; wall time, GB/s, peak RSS (GNU time);
#   - the scaling table: import TP2·EP4 and export back at 1, 2, 4 and 8 layers, wall time and peak RSS
#     (time linear, memory flat; BENCH_SCALING_LAYERS overrides the list);
#   - `inspect --json` of the multi-GB shard (reads the header only);
#   - the torch peer on the same input: Megatron-Bridge's CPU import or the oracle's torch converter when
#     ../shared/oracle and its venvs exist, else scripts/bench_torch_peer.py (torch load + DCP save);
#   - the forward pass against PyTorch CPU on the 2-layer 30B-A3B shapes, image and text prompts (scripts/bench-forward.sh);
#   - streamed `verify` of a 235B-A22B-shaped checkpoint at 2 and 4 layers: peak RSS and the extrapolated
#     94-layer time (scripts/bench-verify-large.sh; needs ~50 GB free, skipped otherwise; BENCH_LARGE=0 skips).
# Every timed command ends with `sync`; inputs are in the page cache (each is read once before timing).
#   usage: scripts/bench.sh CKPT_BRIDGE [WORK_DIR]      (default WORK_DIR .bench; needs ~45 GB free)
set -euo pipefail
CLI="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
WORK="${2:-.bench}"
LAYERS="${BENCH_LAYERS:-4}"
RUNS="${BENCH_RUNS:-5}"
PY=.venv/bin/python
ORACLE="$(cd "$(dirname "$0")/../.." && pwd)/shared/oracle"
mkdir -p "$WORK"
command -v /usr/bin/time >/dev/null || { echo "bench: installing GNU time"; apt-get install -y -qq time >/dev/null; }

synth() {   # synth LAYERS DIR
  [ -f "$2/.complete" ] && return
  rm -rf "$2"
  "$CLI" synth "$2" --preset qwen3-vl-30b-a3b --layers "$1" >/dev/null
  touch "$2/.complete"
}

# once NAME OUTDIR CMD... : one timed run (output removed before it, `sync` inside the timing); appends its
# wall seconds to SAMPLES[NAME] and keeps the largest peak RSS in RSS[NAME].
declare -A WALL RSS MS_BYTES SAMPLES
once() {
  local name="$1" out="$2"; shift 2
  rm -rf "$out"; sync
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" sh -c "\"\$@\" >/dev/null && sync" -- "$@"
  SAMPLES[$name]="${SAMPLES[$name]:-} $(cut -d' ' -f1 "$WORK/time.txt")"
  local r; r=$(cut -d' ' -f2 "$WORK/time.txt"); [ "$r" -gt "${RSS[$name]:-0}" ] && RSS[$name]=$r
  WALL[$name]=$(printf '%s\n' ${SAMPLES[$name]} | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
}
# measure NAME OUTDIR CMD... : median wall seconds and max peak RSS over RUNS runs in a row.
measure() {
  local i
  for i in $(seq "$RUNS"); do once "$@"; done
}

echo "== synthesizing qwen3-vl-30b-a3b with $LAYERS (and 1, 4) text layers in $WORK (once)"
synth "$LAYERS" "$WORK/synth-l$LAYERS"
SRC="$WORK/synth-l$LAYERS"
BYTES=$(du -sb --exclude=.complete "$SRC" | cut -f1)
cat "$SRC"/*.safetensors > /dev/null   # warm the page cache

# Alternating rounds (cp, imports, exports), so that other load on the machine falls on all of them alike;
# the ratios are of the medians. (once leaves its output in place: the exports read the round's imports.)
for round in $(seq "$RUNS"); do
  once "cp -r" "$WORK/cp" cp -r "$SRC" "$WORK/cp"
  rm -rf "$WORK/cp"
  once "import TP1·EP1" "$WORK/m1" "$CLI" import "$SRC" "$WORK/m1" --quiet
  once "import TP2·EP4" "$WORK/m24" "$CLI" import "$SRC" "$WORK/m24" --tp 2 --ep 4 --quiet
  # What the default's integrity.json costs: the same import with bytes only, as cp writes them.
  once "import TP1 no SHA-256" "$WORK/m1n" "$CLI" import "$SRC" "$WORK/m1n" --quiet --no-integrity-manifest
  rm -rf "$WORK/m1n"
  once "export from TP1·EP1" "$WORK/h1" "$CLI" export "$WORK/m1" "$WORK/h1" --quiet
  once "export from TP2·EP4" "$WORK/h24" "$CLI" export "$WORK/m24" "$WORK/h24" --quiet
done
ROUNDTRIP=$("$CLI" diff "$SRC" "$WORK/h24" | tail -1)

PEER=""
if [ -x "$PY" ] && [ -f "$ORACLE/peers/torch_peer_convert.py" ]; then
  PEER="oracle torch_peer_convert.py (Megatron-Bridge transforms + torch DCP save)"
  measure "torch peer" "$WORK/peer" "$PY" "$ORACLE/peers/torch_peer_convert.py" "$SRC" "$WORK/peer"
elif [ -x "$PY" ]; then
  PEER="scripts/bench_torch_peer.py (torch load + DCP save, no transforms)"
  measure "torch peer" "$WORK/peer" "$PY" scripts/bench_torch_peer.py "$SRC" "$WORK/peer"
fi
# Megatron-Bridge's own CPU import (the oracle's bridge venv). It refuses fewer text layers than the
# model has deepstack indexes (3), so it runs on a 3-layer input, next to our import of the same input.
MB_PY="${ORACLE%/oracle}/../oracle-work/venv-bridge/bin/python"
MB=""
if [ -x "$MB_PY" ] && [ -f "$ORACLE/peers/bridge_import_perf.py" ]; then
  synth 3 "$WORK/synth-l3"
  cat "$WORK/synth-l3"/*.safetensors > /dev/null
  measure "import TP1·EP1 (3 layers)" "$WORK/m3" "$CLI" import "$WORK/synth-l3" "$WORK/m3" --quiet
  if RUNS=1 measure "Megatron-Bridge import (3 layers)" "$WORK/mb" "$MB_PY" "$ORACLE/peers/bridge_import_perf.py" "$WORK/synth-l3" "$WORK/mb" 2>"$WORK/mb.log"; then
    MB=yes
  else
    echo "Megatron-Bridge import failed; see $WORK/mb.log"
  fi
fi

# The rounds' outputs and the peer's are done with: free their ~36 GB before the scaling table needs the disk.
rm -rf "$WORK/cp" "$WORK/m1" "$WORK/m24" "$WORK/h1" "$WORK/h24" "$WORK/peer" "$WORK/m3" "$WORK/mb"

echo "== scaling: import TP2·EP4 and export back at ${BENCH_SCALING_LAYERS:-1 2 4 8} text layers (one run each)"
SCALING="${BENCH_SCALING_LAYERS:-1 2 4 8}"
for L in $SCALING; do
  synth "$L" "$WORK/synth-l$L"
  cat "$WORK/synth-l$L"/*.safetensors > /dev/null
  RUNS=1 measure "import L$L" "$WORK/ms" "$CLI" import "$WORK/synth-l$L" "$WORK/ms" --tp 2 --ep 4 --quiet
  RUNS=1 measure "export L$L" "$WORK/mh" "$CLI" export "$WORK/ms" "$WORK/mh" --quiet
  MS_BYTES[$L]=$(du -sb --exclude=.complete "$WORK/synth-l$L" | cut -f1)
  rm -rf "$WORK/ms" "$WORK/mh"
  # The 8-layer input (~14 GB) is only for this table.
  if [ "$L" -gt 4 ]; then rm -rf "$WORK/synth-l$L"; fi
done
SHARD=$(ls -S "$SRC"/*.safetensors | head -1)
RUNS=1 measure "inspect --json" "$WORK/none" "$CLI" inspect --json "$SHARD"

gbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
gib() { awk -v k="$1" 'BEGIN { printf "%.3f", k / 1048576 }'; }
echo
echo "input: $SRC ($(awk -v b="$BYTES" 'BEGIN {printf "%.2f", b/1e9}') GB, qwen3-vl-30b-a3b shapes, $LAYERS text layers, bf16); $(nproc) cores; median of $RUNS runs"
printf '%-22s %9s %7s %12s %14s\n' "command" "wall s" "GB/s" "peak RSS GiB" "speed vs cp"
for k in "cp -r" "import TP1·EP1" "import TP2·EP4" "import TP1 no SHA-256" "export from TP1·EP1" "export from TP2·EP4" ${PEER:+"torch peer"}; do
  printf '%-22s %9s %7s %12s %14s\n' "$k" "${WALL[$k]}" "$(gbps "${WALL[$k]}")" "$(gib "${RSS[$k]}")" "$(ratio "${WALL[cp -r]}" "${WALL[$k]}")×"
done
[ -n "$PEER" ] && echo "torch peer: $PEER; import TP1·EP1 is $(ratio "${WALL[torch peer]}" "${WALL[import TP1·EP1]}")× faster"
if [ -n "$MB" ]; then
  echo "Megatron-Bridge 0.3.1 CPU import of the 3-layer input: ${WALL[Megatron-Bridge import (3 layers)]} s, peak RSS $(gib "${RSS[Megatron-Bridge import (3 layers)]}") GiB;" \
       "ours ${WALL[import TP1·EP1 (3 layers)]} s, peak RSS $(gib "${RSS[import TP1·EP1 (3 layers)]}") GiB: $(ratio "${WALL[Megatron-Bridge import (3 layers)]}" "${WALL[import TP1·EP1 (3 layers)]}")× faster"
fi
echo "round trip (synth → TP2·EP4 → HF): $ROUNDTRIP"
echo "scaling (TP2·EP4; time must grow linearly, peak RSS stay flat):"
printf '  %-7s %8s %10s %9s %10s %9s\n' layers GB "import s" "RSS GiB" "export s" "RSS GiB"
for L in $SCALING; do
  printf '  %-7s %8s %10s %9s %10s %9s\n' "$L" "$(awk -v b="${MS_BYTES[$L]}" 'BEGIN{printf "%.2f", b/1e9}')" \
    "${WALL[import L$L]}" "$(gib "${RSS[import L$L]}")" "${WALL[export L$L]}" "$(gib "${RSS[export L$L]}")"
done
echo "inspect --json $(basename "$SHARD") ($(du -h "$SHARD" | cut -f1)): ${WALL[inspect --json]} s, peak RSS $(gib "${RSS[inspect --json]}") GiB (header only)"
rm -rf "$WORK/cp" "$WORK/m1" "$WORK/m24" "$WORK/h1" "$WORK/h24" "$WORK/peer" "$WORK/ms" "$WORK/m3" "$WORK/mb"

if [ -x scripts/bench-forward.sh ]; then
  echo
  echo "== forward pass vs PyTorch CPU: 2-layer qwen3-vl-30b-a3b shapes, an image prompt (448 px), then text only"
  BENCH_PRESET=qwen3-vl-30b-a3b BENCH_IMAGE=448 scripts/bench-forward.sh "$CLI" "$WORK/forward"
  BENCH_PRESET=qwen3-vl-30b-a3b BENCH_IMAGE=0 scripts/bench-forward.sh "$CLI" "$WORK/forward"
fi

if [ "${BENCH_LARGE:-1}" != 0 ]; then
  echo
  echo "== streamed verification at scale (qwen3-vl-235b-a22b shapes)"
  scripts/bench-verify-large.sh "$CLI" "$WORK/large"
fi

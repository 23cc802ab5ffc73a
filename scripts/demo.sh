#!/usr/bin/env bash
# The main job on the bundled fixture (the tiny Qwen3-VL-MoE saved by transformers 5.24):
# inspect it, and diff the fp32 and bf16 copies.
#   usage: scripts/demo.sh CKPT_BRIDGE OUT_DIR
set -euo pipefail
CLI="$1"
OUT="$2"
MODEL=Fixtures/qwen3_vl_moe_tiny
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }

step "Inspect the Hugging Face checkpoint" "$CLI" inspect "$MODEL/hf"
"$CLI" inspect "$MODEL/hf" | tail -n 12

step "Diff the fp32 and bf16 copies (exit 1: they differ in dtype)" "$CLI" diff "$MODEL/hf" "$MODEL/hf_bf16"
set +e
"$CLI" diff "$MODEL/hf" "$MODEL/hf_bf16" | tail -n 4
status=${PIPESTATUS[0]}
set -e
echo "exit status: $status"
[ "$status" = 1 ] || { echo "demo: expected diff to report a difference" >&2; exit 1; }

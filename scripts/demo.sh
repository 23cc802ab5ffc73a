#!/usr/bin/env bash
# The main job on the bundled fixture (the tiny Qwen3-VL-MoE saved by transformers 5.24):
# inspect it, convert it to Megatron-Core at TP2·EP2, convert it back, prove the round trip bit-exact
# with diff, and prove the Megatron checkpoint computes the same logits with verify.
#   usage: scripts/demo.sh CKPT_BRIDGE OUT_DIR
set -euo pipefail
CLI="$1"
OUT="$2"
MODEL=Fixtures/qwen3_vl_moe_tiny
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
run() { step "$@"; "${@:2}"; }

step "Inspect the Hugging Face checkpoint" "$CLI" inspect "$MODEL/hf"
"$CLI" inspect "$MODEL/hf" | tail -n 8

step "Diff the fp32 and bf16 copies (exit 1: they differ)" "$CLI" diff "$MODEL/hf" "$MODEL/hf_bf16"
set +e
"$CLI" diff "$MODEL/hf" "$MODEL/hf_bf16" | tail -n 2
status=${PIPESTATUS[0]}
set -e
echo "exit status: $status"
[ "$status" = 1 ] || { echo "demo: expected diff to report a difference" >&2; exit 1; }

# The tiny model's vision tower has 3 heads, which TP2 cannot split: keep it replicated (--vision-layout hf).
step "Plan the import (dry run)" "$CLI" plan import "$MODEL/hf" "$OUT/megatron" --tp 2 --ep 2 --vision-layout hf
"$CLI" plan import "$MODEL/hf" "$OUT/megatron" --tp 2 --ep 2 --vision-layout hf | tail -n 11
run "Import: HF → Megatron-Core torch_dist at TP2·EP2" "$CLI" import "$MODEL/hf" "$OUT/megatron" --tp 2 --ep 2 --vision-layout hf
step "Inspect the Megatron checkpoint" "$CLI" inspect "$OUT/megatron"
"$CLI" inspect "$OUT/megatron" | tail -n 8
run "Export: Megatron → HF (transformers-5 expert layout, as the source)" "$CLI" export "$OUT/megatron" "$OUT/hf" --expert-layout v5
run "Diff the round trip (exit 0: bit-exact)" "$CLI" diff "$MODEL/hf" "$OUT/hf"
run "Verify: the forward pass of both checkpoints" "$CLI" verify "$MODEL/hf" "$OUT/megatron"

#!/usr/bin/env python3
"""Make FP8 block-quantized HF fixtures from the tiny Qwen3-VL models, with torch as the oracle.

For each tiny model (dense, MoE) this writes `Fixtures/fp8/<name>/hf/` — an FP8 HF folder in the Hub's
fine-grained layout (`X.weight` in float8_e4m3fn, sibling `X.weight_scale_inv` in F32, one scale per
block, `quantization_config` in config.json) — and `Fixtures/fp8/<name>/expected_{bf16,fp32}.safetensors`,
torch's dequantization of every quantized weight: `(q.float() * scale_inv[i//bh, j//bw]).to(dtype)`,
the same per-block multiply-then-cast that torch's `QuantizedHuggingFaceStorageReader._dequantize_tensor`
does (fp32 product, one cast with round-to-nearest-even).

Quantization follows transformers' `Fp8Quantize._quantize_one` (integrations/finegrained_fp8.py):
per block `scale = 448 / amax`, `scale_inv = 1 / scale` (fp32), `q = clamp(w * scale, -448, 448)` cast to
float8_e4m3fn (RNE). Unlike transformers, partial edge blocks are allowed (amax over the block's real
elements), as torch's reader and the DeepSeek/Qwen Hub checkpoints allow them; the 48x48 block makes the
tiny shapes (dense 32, 64; MoE 24, 80, 128) exercise them.

Fused MoE experts (`mlp.experts.gate_up_proj` [E, 2I, H], `mlp.experts.down_proj` [E, H, I], the layout
transformers 5 holds in memory) are quantized per expert over the last two dims, scale shape
[E, ceil(out/bh), ceil(in/bw)] — the `gate_up_proj_scale_inv` / `down_proj_scale_inv` names of transformers'
`FP8Experts` and the grid `_dequantize_fp8_weight` reads (FP8Experts allocates gate_up's grid as gate's and up's
stacked, which is the same grid only when bh divides moe_intermediate_size; not so at 48 for the MoE).

Note: torch evaluates `FP8_MAX / amax` (Python scalar over a tensor) as `amax.reciprocal() * FP8_MAX`.

Modules left unquantized, as in the Hub's Qwen3-VL FP8 releases' `modules_to_not_convert`: embeddings,
lm_head, norms, the MoE router (`mlp.gate`), biases and the whole vision tower (`model.visual`).

Usage: .venv/bin/python scripts/oracle/make_fp8_fixtures.py [--block 48x48]
"""
import argparse
import json
import math
import os
import shutil

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max
NOT_CONVERT = ["lm_head", "embed_tokens", "model.visual", "mlp.gate"]


def quantized(name, t):
    if t.ndim not in (2, 3) or name.endswith(".bias") or "norm" in name:
        return False
    if any(m in name for m in NOT_CONVERT if m != "mlp.gate") or name.endswith("mlp.gate.weight"):
        return False
    return name.endswith(".weight") or name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj")


def scale_key(name):
    return name[: -len(".weight")] + ".weight_scale_inv" if name.endswith(".weight") else name + "_scale_inv"


def quantize2d(w, bh, bw):
    rows, cols = w.shape
    q = torch.empty(rows, cols, dtype=FP8)
    inv = torch.empty(math.ceil(rows / bh), math.ceil(cols / bw), dtype=torch.float32)
    w = w.to(torch.float32)
    for bi in range(inv.shape[0]):
        for bj in range(inv.shape[1]):
            blk = w[bi * bh:(bi + 1) * bh, bj * bw:(bj + 1) * bw]
            amax = blk.abs().amax()
            scale = FP8_MAX / amax if amax > 0 else torch.tensor(1.0)
            scale = scale.to(torch.float32)
            inv[bi, bj] = (1.0 / scale).to(torch.float32)
            q[bi * bh:(bi + 1) * bh, bj * bw:(bj + 1) * bw] = torch.clamp(blk * scale, -FP8_MAX, FP8_MAX).to(FP8)
    return q, inv


def dequantize2d(q, inv, bh, bw, dtype):
    out = torch.empty(q.shape, dtype=dtype)
    qf = q.to(torch.float32)
    for bi in range(inv.shape[0]):
        for bj in range(inv.shape[1]):
            blk = qf[bi * bh:(bi + 1) * bh, bj * bw:(bj + 1) * bw] * inv[bi, bj]
            out[bi * bh:(bi + 1) * bh, bj * bw:(bj + 1) * bw] = blk.to(dtype)
    return out


def per_matrix(fn, t, *args):
    if t.ndim == 2:
        return fn(t, *args)
    parts = [fn(t[e], *args) for e in range(t.shape[0])]
    if isinstance(parts[0], tuple):
        return tuple(torch.stack(p) for p in zip(*parts))
    return torch.stack(parts)


def dequantize(q, inv, bh, bw, dtype):
    if q.ndim == 2:
        return dequantize2d(q, inv, bh, bw, dtype)
    return torch.stack([dequantize2d(q[e], inv[e], bh, bw, dtype) for e in range(q.shape[0])])


def make(name, bh, bw):
    src = os.path.join(ROOT, "Fixtures", name, "hf")
    dst = os.path.join(ROOT, "Fixtures", "fp8", name)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(os.path.join(dst, "hf"))
    tensors = load_file(os.path.join(src, "model.safetensors"))
    out, exp16, exp32 = {}, {}, {}
    for k in sorted(tensors):
        t = tensors[k]
        if quantized(k, t):
            q, inv = per_matrix(quantize2d, t, bh, bw)
            out[k], out[scale_key(k)] = q, inv
            exp16[k] = dequantize(q, inv, bh, bw, torch.bfloat16)
            exp32[k] = dequantize(q, inv, bh, bw, torch.float32)
        else:
            out[k] = t.to(torch.bfloat16) if t.is_floating_point() else t
    save_file(out, os.path.join(dst, "hf", "model.safetensors"), metadata={"format": "pt"})
    # The index is what the Hub's sharded releases carry, and what torch's HF storage reader needs.
    size = sum(t.numel() * t.element_size() for t in out.values())
    index = {"metadata": {"total_size": size}, "weight_map": {k: "model.safetensors" for k in sorted(out)}}
    with open(os.path.join(dst, "hf", "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(exp16, os.path.join(dst, "expected_bf16.safetensors"))
    save_file(exp32, os.path.join(dst, "expected_fp32.safetensors"))
    for f in os.listdir(src):
        if f.endswith(".json") and f != "config.json":
            shutil.copy(os.path.join(src, f), os.path.join(dst, "hf", f))
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["dtype"] = "bfloat16"
    cfg["quantization_config"] = {
        "activation_scheme": "dynamic",
        "fmt": "e4m3",
        "modules_to_not_convert": NOT_CONVERT,
        "quant_method": "fp8",
        "weight_block_size": [bh, bw],
    }
    with open(os.path.join(dst, "hf", "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"{name}: {len(exp16)} quantized weights, {len(out)} tensors -> {dst}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--block", default="48x48")
    a = ap.parse_args()
    bh, bw = (int(x) for x in a.block.split("x"))
    torch.manual_seed(0)
    for name in ("qwen3_vl_dense_tiny", "qwen3_vl_moe_tiny"):
        make(name, bh, bw)


if __name__ == "__main__":
    main()

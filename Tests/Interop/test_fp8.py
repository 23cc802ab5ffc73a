"""FP8 block-quantized HF fixtures (Fixtures/fp8/, made by scripts/oracle/make_fp8_fixtures.py) checked
against upstream dequantization: torch's QuantizedHuggingFaceStorageReader for per-module `X.weight` +
`X.weight_scale_inv`, and transformers' fine-grained FP8 dequantization for the fused MoE experts
(`mlp.experts.gate_up_proj` + `gate_up_proj_scale_inv`), which torch's reader does not recognise.

These pin the expected bytes that ckpt-bridge's FP8 import must reproduce."""
import json
import os

import pytest
import torch
import torch.distributed.checkpoint as dcp
from safetensors import safe_open
from safetensors.torch import load_file
from torch.distributed.checkpoint.quantized_hf_storage import QuantizedHuggingFaceStorageReader
from transformers.integrations.finegrained_fp8 import _dequantize_fp8_weight

from conftest import FIXTURES

MODELS = ["qwen3_vl_dense_tiny", "qwen3_vl_moe_tiny"]
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def folder(name):
    return os.path.join(FIXTURES, "fp8", name)


def block(name):
    with open(os.path.join(folder(name), "hf", "config.json")) as f:
        q = json.load(f)["quantization_config"]
    assert q["quant_method"] == "fp8" and q["fmt"] == "e4m3"
    return q["weight_block_size"]


def is_fused_expert(key):
    return key.endswith("mlp.experts.gate_up_proj") or key.endswith("mlp.experts.down_proj")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dt", sorted(DTYPES))
def test_torch_reader_dequantization_equals_expected(name, dt):
    bh, bw = block(name)
    assert bh == bw  # torch's reader takes one square block size
    exp = load_file(os.path.join(folder(name), f"expected_{dt}.safetensors"))
    keys = [k for k in exp if not is_fused_expert(k)]
    assert keys
    sd = {k: torch.empty(exp[k].shape, dtype=DTYPES[dt]) for k in keys}
    reader = QuantizedHuggingFaceStorageReader(os.path.join(folder(name), "hf"), target_dtype=DTYPES[dt], block_size=bh)
    dcp.load(sd, storage_reader=reader, no_dist=True)
    bad = [k for k in keys if not torch.equal(sd[k].view(torch.uint8), exp[k].view(torch.uint8))]
    assert not bad


def test_transformers_dequantizes_fused_experts_as_expected():
    name = "qwen3_vl_moe_tiny"
    bh, bw = block(name)
    exp = load_file(os.path.join(folder(name), "expected_fp32.safetensors"))
    with safe_open(os.path.join(folder(name), "hf", "model.safetensors"), "pt") as f:
        experts = [k for k in f.keys() if is_fused_expert(k)]
        assert len(experts) == 6
        for k in experts:
            q, inv = f.get_tensor(k), f.get_tensor(k + "_scale_inv")
            assert q.dtype == torch.float8_e4m3fn and inv.dtype == torch.float32
            assert list(inv.shape) == [q.shape[0], -(-q.shape[1] // bh), -(-q.shape[2] // bw)]
            got = _dequantize_fp8_weight(q, inv, [bh, bw], torch.float32)
            assert torch.equal(got.view(torch.int32), exp[k].view(torch.int32)), k


@pytest.mark.parametrize("name", MODELS)
def test_every_scale_has_its_weight_and_edges_are_partial(name):
    bh, bw = block(name)
    with safe_open(os.path.join(folder(name), "hf", "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        scales = [k for k in keys if k.endswith("scale_inv")]
        partial = 0
        for s in scales:
            w = s[: -len("_scale_inv")] if not s.endswith(".weight_scale_inv") else s[: -len("_scale_inv")]
            assert w in keys and f.get_slice(w).get_dtype() == "F8_E4M3", s
            shape = f.get_slice(w).get_shape()
            partial += shape[-2] % bh != 0 or shape[-1] % bw != 0
        fp8 = [k for k in keys if f.get_slice(k).get_dtype() == "F8_E4M3"]
        assert len(fp8) == len(scales) and partial > 0

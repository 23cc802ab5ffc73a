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


# ---- ckpt-bridge against the oracle -------------------------------------------------------------------------------

import glob
import importlib.util

import transformers
from safetensors.torch import save_file
from transformers import FineGrainedFP8Config
from transformers.integrations.finegrained_fp8 import replace_with_fp8_linear

from conftest import ROOT, cli, fixture, tree

CLASSES = {"qwen3_vl_dense_tiny": "Qwen3VLForConditionalGeneration", "qwen3_vl_moe_tiny": "Qwen3VLMoeForConditionalGeneration"}


def oracle_script():
    """The fixture script (torch): its quantize2d is the quantization oracle."""
    spec = importlib.util.spec_from_file_location("make_fp8_fixtures", os.path.join(ROOT, "scripts", "oracle", "make_fp8_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_folder(d):
    out = {}
    for f in sorted(glob.glob(os.path.join(str(d), "*.safetensors"))):
        out.update(load_file(f))
    return out


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.uint8), b.view(torch.uint8))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dt", sorted(DTYPES))
def test_import_equals_torch_dequantization(out, name, dt):
    """import of the FP8 folder holds torch's dequantized bytes (seen again through a bit-exact export)."""
    meg, back = out / "megatron", out / "hf"
    cli("import", os.path.join(folder(name), "hf"), meg, *(["--dtype", "fp32"] if dt == "fp32" else []))
    cli("export", meg, back, "--expert-layout", "v5")
    exp = load_file(os.path.join(folder(name), f"expected_{dt}.safetensors"))
    got = load_folder(back)
    assert not [k for k in got if k.endswith("scale_inv")]
    assert "quantization_config" not in json.load(open(back / "config.json"))
    bad = [k for k in exp if not same_bytes(got[k], exp[k])]
    assert exp and not bad


# Dense at the fixture's 48x48 and the Hub's 128x128 (every block partial); MoE at 24x32, whose block height
# divides moe_intermediate_size as transformers' fused FP8Experts needs.
EXPORTS = [("qwen3_vl_dense_tiny", (48, 48)), ("qwen3_vl_dense_tiny", (128, 128)), ("qwen3_vl_moe_tiny", (24, 32))]


def export_quantized(out, name, block):
    meg, q = out / "megatron", out / "fp8"
    cli("import", fixture(f"{name}/hf"), meg)
    # Sharded, so that the folder has the index torch's reader needs (as the Hub's releases do).
    cli("export", meg, q, "--quantize", f"fp8-block:{block[0]}x{block[1]}", "--dtype", "bf16", "--max-shard-size", "500kB")
    return meg, q


@pytest.mark.parametrize("name,block", EXPORTS, ids=lambda x: "x".join(map(str, x)) if isinstance(x, tuple) else x)
def test_export_quantize_equals_torch(out, name, block):
    """export --quantize writes torch's quantization (the fixture script's quantize2d) of the source weights, the
    tensors transformers' FP8 integration allocates for that config, and torch's dequantization of it is within
    the e4m3 rounding bound of the source."""
    _, q = export_quantized(out, name, block)
    ours = load_folder(q)
    cfg = json.load(open(q / "config.json"))
    qc = cfg["quantization_config"]
    assert qc == {"activation_scheme": "dynamic", "fmt": "e4m3", "modules_to_not_convert": ["lm_head", "embed_tokens", "model.visual", "mlp.gate"],
                  "quant_method": "fp8", "weight_block_size": list(block)}
    src = load_file(os.path.join(fixture(f"{name}/hf"), "model.safetensors"))
    ora = oracle_script()
    fp8 = [k for k, v in ours.items() if v.dtype == torch.float8_e4m3fn]
    for k in fp8:
        wq, inv = ora.per_matrix(ora.quantize2d, src[k], *block)
        assert same_bytes(ours[k], wq), k
        assert same_bytes(ours[k + "_scale_inv"], inv), k
        # Within e4m3's rounding: relative 2^-4 for normals, absolute 2^-10 · scale_inv for subnormals.
        deq = _dequantize_fp8_weight(ours[k], ours[k + "_scale_inv"], list(block), torch.float32)
        bound = src[k].abs() * 2.0 ** -4 + inv.repeat_interleave(block[0], -2).repeat_interleave(block[1], -1)[..., :deq.shape[-2], :deq.shape[-1]] * 2.0 ** -10
        assert ((deq - src[k]).abs() <= bound * (1 + 1e-6)).all(), k
    for k, v in ours.items():
        if v.dtype != torch.float8_e4m3fn and not k.endswith("scale_inv"):
            assert torch.equal(v, src[k].to(torch.bfloat16)), k
    # transformers' FP8 integration: which modules it converts and the parameters it allocates for this config.
    config = transformers.AutoConfig.from_pretrained(str(q))
    with torch.device("meta"):
        model = getattr(transformers, CLASSES[name])._from_config(config)
    fq = FineGrainedFP8Config(weight_block_size=qc["weight_block_size"], modules_to_not_convert=qc["modules_to_not_convert"])
    model = replace_with_fp8_linear(model, modules_to_not_convert=qc["modules_to_not_convert"], quantization_config=fq, pre_quantized=True)
    theirs = {k: (v.dtype, tuple(v.shape)) for k, v in model.state_dict().items() if not (config.get_text_config().tie_word_embeddings and k == "lm_head.weight")}
    assert {k: v[1] for k, v in theirs.items()} == {k: tuple(v.shape) for k, v in ours.items()}
    assert {k for k, v in theirs.items() if v[0] == torch.float8_e4m3fn} == set(fp8)
    assert {k for k, v in theirs.items() if k.endswith("scale_inv")} == {k + "_scale_inv" for k in fp8}
    if block[0] == block[1]:
        # torch's own reader dequantizes every per-module weight of our folder (square blocks only).
        keys = [k for k in fp8 if not is_fused_expert(k)]
        sd = {k: torch.empty(ours[k].shape, dtype=torch.float32) for k in keys}
        dcp.load(sd, storage_reader=QuantizedHuggingFaceStorageReader(str(q), target_dtype=torch.float32, block_size=block[0]), no_dist=True)
        for k in keys:
            assert torch.equal(sd[k], _dequantize_fp8_weight(ours[k], ours[k + "_scale_inv"], list(block), torch.float32)), k


@pytest.mark.parametrize("name", MODELS)
def test_verify_of_fp8_export_reports_its_distance(out, name):
    """verify of the FP8 export against its Megatron source runs both forwards and reports how far FP8 moved the
    logits; the default 5e-5 tolerance is not met (FP8 is lossy), a tolerance set from the report is."""
    block = (48, 48) if name == "qwen3_vl_dense_tiny" else (24, 32)
    meg, q = export_quantized(out, name, block)
    p = cli("verify", q, meg, "--json", check=False)
    assert p.returncode == 1, p.stderr
    r = json.loads(p.stdout)
    assert "FP8" in r["hf"] and r["max_abs_tolerance"] == 5e-5
    for i in r["inputs"]:
        assert 0 < i["max_abs"] < 0.5 and i["cosine"] > 0.99, i


@pytest.mark.parametrize("name", MODELS)
def test_forward_of_fp8_folder_equals_transformers(out, name):
    """ckpt-bridge forward of the FP8 folder equals transformers run on torch's dequantization of it (bf16 weights,
    fp32 compute): the folder is read as transformers' dequantizing load would hold it."""
    deq = out / "dequantized"
    deq.mkdir()
    stored = load_folder(os.path.join(folder(name), "hf"))
    exp = load_file(os.path.join(folder(name), "expected_bf16.safetensors"))
    save_file({k: exp.get(k, v) for k, v in stored.items() if not k.endswith("scale_inv")}, str(deq / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.load(open(os.path.join(folder(name), "hf", "config.json")))
    del cfg["quantization_config"]
    json.dump(cfg, open(deq / "config.json", "w"))
    model = getattr(transformers, CLASSES[name]).from_pretrained(str(deq), dtype=torch.float32).eval()
    ref = load_file(fixture(f"{name}/reference.safetensors"))
    with torch.no_grad():
        theirs = model(input_ids=ref["text.input_ids"], attention_mask=ref["text.attention_mask"], use_cache=False).logits
    cli("forward", os.path.join(folder(name), "hf"), "--inputs", fixture(f"{name}/reference.safetensors"), "--prefix", "text.", "--out", out / "logits.safetensors")
    ours = load_file(str(out / "logits.safetensors"))["logits"]
    assert (ours - theirs).abs().max().item() <= 5e-5
    assert torch.equal(ours.argmax(-1), theirs.argmax(-1))


@pytest.mark.parametrize("dt", sorted(DTYPES))
def test_bf16_scales_read_as_torch_reads_them(out, dt):
    """Scales stored in BF16 (the issue allows F32 or BF16): ckpt-bridge's import equals torch's reader byte for byte."""
    name = "qwen3_vl_dense_tiny"
    src = os.path.join(folder(name), "hf")
    hf = out / "bf16_scales"
    hf.mkdir()
    tensors = {k: (v.to(torch.bfloat16) if k.endswith("scale_inv") else v) for k, v in load_folder(src).items()}
    save_file(tensors, str(hf / "model.safetensors"), metadata={"format": "pt"})
    for f in os.listdir(src):
        if f.endswith(".json"):
            with open(os.path.join(src, f)) as a, open(hf / f, "w") as b:
                b.write(a.read())
    keys = [k for k, v in tensors.items() if v.dtype == torch.float8_e4m3fn]
    sd = {k: torch.empty(tensors[k].shape, dtype=DTYPES[dt]) for k in keys}
    dcp.load(sd, storage_reader=QuantizedHuggingFaceStorageReader(str(hf), target_dtype=DTYPES[dt], block_size=block(name)[0]), no_dist=True)
    cli("import", hf, out / "megatron", *(["--dtype", "fp32"] if dt == "fp32" else []))
    cli("export", out / "megatron", out / "back")
    got = load_folder(out / "back")
    bad = [k for k in keys if not same_bytes(got[k], sd[k])]
    assert keys and not bad


def test_python_package_quantizes_as_the_cli(out):
    """ckpt_bridge.export_hf(quantize=...) over the C ABI writes the CLI's FP8 folder byte for byte."""
    import hashlib
    import sys
    from conftest import CLI
    os.environ.setdefault("CKPT_BRIDGE_LIBRARY", os.path.join(os.path.dirname(CLI), "libCheckpointBridgeC.so"))
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import ckpt_bridge as cb

    meg, q = export_quantized(out, "qwen3_vl_moe_tiny", (24, 32))
    cb.export_hf(meg, out / "py", quantize="fp8-block:24x32", dtype="bf16", max_shard_size="500kB", progress=False)

    assert tree(q) == tree(out / "py")
    with pytest.raises(cb.BridgeError, match="int4"):
        cb.export_hf(meg, out / "bad", quantize="int4", progress=False)

"""LoRA: ckpt-bridge reads Megatron-Bridge 0.3.1 PEFT checkpoints (Fixtures/lora/, made by Megatron-Bridge's own
LoRA on CPU, see scripts/oracle/make_lora_fixtures.py) and writes

  * `export --adapter-only`: a Hugging Face PEFT adapter. Oracles: its tensors equal, bit for bit, the adapter
    tensors Megatron-Bridge's own export_adapter_weights gives for the same model (TP1 and TP2), and the `peft`
    library loads it onto the transformers model;
  * `export --merge-adapter`: merged full weights. Oracles: Megatron-Bridge's own merged HF export (within fp32
    rounding: the product B·A is summed in another order), and the logits of peft's adapted model, of our merged
    export, of Megatron-Bridge's merge and of Megatron-Bridge's own forward of the unmerged LoRA model agree
    within fp32 tolerance.
"""
import json
import os

import pytest
import torch
import transformers
import yaml
from safetensors.torch import load_file

from conftest import FIXTURES, cli, fixture

LORA = os.path.join(FIXTURES, "lora")
PREFIX = "base_model.model."


def recorded_peft(ckpt):
    """The peft section Megatron-Bridge wrote into the checkpoint's run_config.yaml (None without one)."""
    it = open(os.path.join(LORA, ckpt, "latest_checkpointed_iteration.txt")).read().strip()
    with open(os.path.join(LORA, ckpt, f"iter_{int(it):07d}", "run_config.yaml")) as f:
        # Megatron-Bridge's YAML carries python tags (!!set, !!python/...): only plain values are needed here.
        loader = type("L", (yaml.SafeLoader,), {})
        loader.add_multi_constructor("", lambda l, s, n: None)
        loader.add_constructor("tag:yaml.org,2002:set", lambda l, n: None)
        return (yaml.load(f, Loader=loader) or {}).get("peft")


# The full checkpoint (base + adapters, saved without cfg.peft) does not record alpha: it is given with
# --lora-alpha, the value the adapter-only checkpoints of the same run record.
ALPHA = str(recorded_peft("tp1_adapter")["alpha"])
CASES = [("tp1_full", 1, ["--lora-alpha", ALPHA]), ("tp1_adapter", 1, []), ("tp2_adapter", 2, [])]


@pytest.mark.parametrize("ckpt,tp,flags", CASES, ids=[c[0] for c in CASES])
def test_adapter_equals_megatron_bridge_adapter_export(out, ckpt, tp, flags):
    cli("export", os.path.join(LORA, ckpt), out / "adapter", "--adapter-only", *flags)
    ours = load_file(out / "adapter" / "adapter_model.safetensors")
    theirs = load_file(os.path.join(LORA, f"tp{tp}_mb_adapter.safetensors"))
    assert all(k.startswith(PREFIX) for k in ours)
    ours = {k[len(PREFIX):]: v for k, v in ours.items()}
    assert sorted(ours) == sorted(theirs)
    for k in theirs:
        assert ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k]), k
    config = json.load(open(out / "adapter" / "adapter_config.json"))
    peft_section = recorded_peft("tp1_adapter")
    assert config["peft_type"] == "LORA"
    assert config["r"] == peft_section["dim"] and config["lora_alpha"] == peft_section["alpha"]
    assert sorted(config["target_modules"]) == sorted({k.split(".")[-3] for k in theirs})


def merged_export(out, ckpt):
    """Our merged export of a fixture: the full TP1 checkpoint, or the TP2 adapter-only one onto a TP2 base."""
    dst = out / f"merged_{ckpt}"
    if ckpt == "tp1_full":
        cli("export", os.path.join(LORA, ckpt), dst, "--merge-adapter", "--lora-alpha", ALPHA)
    else:
        cli("import", fixture("qwen3_vl_dense_tiny/hf"), out / "base_tp2", "--tp", "2")
        cli("export", os.path.join(LORA, ckpt), dst, "--merge-adapter", "--base", out / "base_tp2")
    return dst


@pytest.mark.parametrize("ckpt,tp", [("tp1_full", 1), ("tp2_adapter", 2)])
def test_merged_equals_megatron_bridge_merge(out, ckpt, tp):
    merged = load_file(merged_export(out, ckpt) / "model.safetensors")
    theirs = load_file(os.path.join(LORA, f"tp{tp}_mb_merged.safetensors"))   # only the tensors the adapters change
    base = load_file(fixture("qwen3_vl_dense_tiny/hf/model.safetensors"))
    assert sorted(merged) == sorted(base)
    assert len(theirs) == 28   # q, k, v, o, gate, up, down of 4 layers
    for k, v in merged.items():
        if k in theirs:
            assert v.dtype == theirs[k].dtype
            assert (v - theirs[k]).abs().max().item() <= 1e-6, k
            assert (v - base[k]).abs().max().item() > 1e-3, k   # the update is really there
        else:
            assert torch.equal(v, base[k]), k


def logits(model, ref):
    with torch.no_grad():
        text = model(input_ids=ref["text.input_ids"], attention_mask=ref["text.attention_mask"], use_cache=False).logits
        image = model(input_ids=ref["image.input_ids"], attention_mask=ref["image.attention_mask"],
                      pixel_values=ref["image.pixel_values"], image_grid_thw=ref["image.image_grid_thw"],
                      mm_token_type_ids=ref["image.mm_token_type_ids"], use_cache=False).logits
    return text, image


def test_peft_logits_equal_merged_and_megatron_bridge_merge(out):
    import peft
    cls = transformers.Qwen3VLForConditionalGeneration
    hf = fixture("qwen3_vl_dense_tiny/hf")
    ref = load_file(fixture("qwen3_vl_dense_tiny/reference.safetensors"))
    cli("export", os.path.join(LORA, "tp2_adapter"), out / "adapter", "--adapter-only")
    base_logits = logits(cls.from_pretrained(hf, dtype=torch.float32).eval(), ref)
    adapted = peft.PeftModel.from_pretrained(cls.from_pretrained(hf, dtype=torch.float32), str(out / "adapter")).eval()
    peft_logits = logits(adapted, ref)
    ours = logits(cls.from_pretrained(str(merged_export(out, "tp2_adapter")), dtype=torch.float32).eval(), ref)
    theirs_model = cls.from_pretrained(hf, dtype=torch.float32).eval()
    sd = theirs_model.state_dict()
    for k, v in load_file(os.path.join(LORA, "tp2_mb_merged.safetensors")).items():
        sd[k].copy_(v)
    theirs = logits(theirs_model, ref)
    # Megatron-Bridge's own forward pass of the LoRA model (TP2, adapters active, unmerged).
    mb = load_file(os.path.join(LORA, "tp2_mb_logits.safetensors"))
    forward = (mb["text.logits"], mb["image.logits"])
    for b, p, o, t, f in zip(base_logits, peft_logits, ours, theirs, forward):
        assert (p - b).abs().max().item() > 1e-1   # the adapter changes the model
        assert (p - o).abs().max().item() <= 3e-5
        assert (p - t).abs().max().item() <= 3e-5
        assert (o - t).abs().max().item() <= 3e-5
        assert (p - f).abs().max().item() <= 1e-4   # another implementation of the whole model (megatron-core)


def test_adapter_keys_without_flag_are_refused(out):
    p = cli("export", os.path.join(LORA, "tp1_full"), out / "hf", check=False)
    assert p.returncode == 2
    assert "LoRA adapter" in p.stderr and "--merge-adapter" in p.stderr and "--adapter-only" in p.stderr
    assert not os.path.exists(out / "hf")


def test_merge_without_alpha_is_refused(out):
    assert recorded_peft("tp1_full") is None
    p = cli("export", os.path.join(LORA, "tp1_full"), out / "hf", "--merge-adapter", check=False)
    assert p.returncode == 2 and "--lora-alpha" in p.stderr
    assert not os.path.exists(out / "hf")

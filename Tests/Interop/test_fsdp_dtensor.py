"""Megatron FSDP `fsdp_dtensor` against megatron-core 0.16.1's own Megatron-FSDP (CPU, gloo, two ranks):
the fixtures are its saves of the tiny models (scripts/oracle/make_fsdp_dtensor_fixtures.py, see
Fixtures/README.md). Read: our export equals transformers' weights. Written: our import equals its save key
for key and byte for byte as torch.distributed.checkpoint reads them, and megatron-core's own load path
(the preprocessed FSDP state dict, strict DCP load) takes it and gives back exactly the fixture."""
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import cli, dcp_global_tensors, fixture, iteration_dir
from test_megatron_core import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ORACLE = os.path.join(ROOT, "scripts", "oracle", "make_fsdp_dtensor_fixtures.py")
VARIANTS = ["dense", "moe"]


def hf_weights(d):
    out = {}
    for n in sorted(os.listdir(d)):
        if n.endswith(".safetensors"):
            out.update(load_file(os.path.join(d, n)))
    return out


def assert_same_tensors(ours, theirs, what):
    assert sorted(ours) == sorted(theirs), f"{what}: keys differ: {sorted(set(ours) ^ set(theirs))[:5]}"
    for k in theirs:
        a, b = ours[k], theirs[k]
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {k}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
        assert torch.equal(a.view(torch.uint8), b.view(torch.uint8)), f"{what}: {k}: bytes differ"


@pytest.mark.parametrize("variant", VARIANTS)
def test_export_equals_transformers_weights(out, variant):
    hf = out / "hf"
    cli("export", fixture(f"fsdp_dtensor/{variant}"), hf, "--hf-config", fixture(f"qwen3_vl_{variant}_tiny/hf"),
        "--dtype", "bf16", "--expert-layout", "v5")
    assert_same_tensors(hf_weights(hf), hf_weights(fixture(f"qwen3_vl_{variant}_tiny/hf_bf16")), "export vs transformers bf16")


def our_import(out, variant, *flags):
    d = out / f"fsdp_{variant}"
    cli("import", fixture(f"qwen3_vl_{variant}_tiny/hf_bf16"), d, "--format", "fsdp_dtensor", "--dtype", "fp32",
        "--vision-layout", "hf", "--iteration", "7", *flags)
    return d


@pytest.mark.parametrize("variant", VARIANTS)
def test_import_equals_megatron_fsdp_save(out, variant):
    d = our_import(out, variant, "--fsdp-expert-names", "sequential")
    ours, md = dcp_global_tensors(str(d))
    theirs, oracle_md = dcp_global_tensors(fixture(f"fsdp_dtensor/{variant}"))
    assert_same_tensors(ours, theirs, "import vs megatron-core's save")
    # No metadata.json and no common state: Megatron-Bridge's _get_checkpoint_format takes it for fsdp_dtensor.
    it = iteration_dir(str(d))
    assert not os.path.exists(os.path.join(it, "metadata.json")) and not os.path.exists(os.path.join(it, "common.pt"))
    assert set(oracle_md.state_dict_metadata) - set(theirs) <= set(md.state_dict_metadata) - set(ours)


def test_grouped_expert_names_are_megatron_cores(out):
    """The default TE grouped-GEMM names parse with megatron-core's own expert-key parser."""
    from megatron.core.transformer.fsdp_dtensor_checkpoint import get_expert_index_from_key
    ours, _ = dcp_global_tensors(str(our_import(out, "moe")))
    experts = [k for k in ours if ".mlp.experts." in k]
    assert experts and not any("local_experts" in k for k in experts)
    for k in experts:
        index = get_expert_index_from_key(k[: -2] if k.endswith(("_w", "_v")) else k)
        assert index is not None and f"weight{index}" in k, k


@pytest.mark.parametrize("variant", VARIANTS)
def test_megatron_core_loads_our_import(out, variant):
    d = our_import(out, variant, "--fsdp-expert-names", "sequential")
    resaved = out / "resaved"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    port = str(free_port())
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1")
    p = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", port, ORACLE,
                        iteration_dir(fixture(f"qwen3_vl_{variant}_tiny/bridge_tp1_ep1/megatron")),
                        fixture(f"qwen3_vl_{variant}_tiny/hf/config.json"), str(resaved), "--load", iteration_dir(str(d))],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    loaded, _ = dcp_global_tensors(str(resaved))
    theirs, _ = dcp_global_tensors(fixture(f"fsdp_dtensor/{variant}"))
    assert_same_tensors(loaded, theirs, "megatron-core's load of our import vs its save")


def test_inspect_and_check_read_it(out):
    p = cli("check", fixture("fsdp_dtensor/moe"), "--hf-config", fixture("qwen3_vl_moe_tiny/hf"))
    assert "fsdp_dtensor names" in p.stdout and "every check passed" in p.stdout
    p = cli("inspect", fixture("fsdp_dtensor/moe"))
    assert "language_model.decoder.layers.mlp.experts.experts.linear_fc1.weight" in p.stdout

"""Real torch reads every file ckpt-bridge writes: torch.load(weights_only=True) on each .pt and each
BYTE_IO item, torch.distributed.checkpoint on each torch_dist folder, with the global tensors equal to
the ones Megatron-Bridge wrote for the same model."""
import io
import os

import pytest
import torch
from safetensors.torch import load_file
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import BytesStorageMetadata

from conftest import allow_megatron_globals, cli, dcp_global_tensors, fixture, iteration_dir

LAYOUTS = [
    ("qwen3_vl_dense_tiny", ["--tp", "2"], "hf"),
    ("qwen3_vl_dense_tiny", ["--tp", "2", "--pp", "2"], "megatron"),
    ("qwen3_vl_moe_tiny", ["--ep", "2"], "hf"),
    ("qwen3_vl_moe_tiny", ["--tp", "2", "--ep", "4"], "hf"),
    ("qwen3_vl_moe_tiny", ["--ep", "2"], "megatron"),
]


def oracle_globals(model, vision):
    """Megatron-Bridge's own global tensors: 0.3.1 (hf vision layout) or 0.6.2 (megatron layout)."""
    path = (fixture(f"{model}/megatron_global_tensors.safetensors") if vision == "hf"
            else fixture(f"{model}/bridge06_tp1_ep1/megatron_global_tensors.safetensors"))
    return load_file(path)


@pytest.mark.parametrize("model,flags,vision", LAYOUTS, ids=lambda x: "-".join(x) if isinstance(x, list) else str(x))
def test_torch_dist_reads_back_identical(out, model, flags, vision):
    meg = out / "megatron"
    cli("import", fixture(f"{model}/hf"), meg, *flags, "--vision-layout", vision)
    tensors, md = dcp_global_tensors(meg)
    oracle = oracle_globals(model, vision)
    assert set(tensors) == set(oracle)
    for k, v in oracle.items():
        assert tensors[k].dtype == v.dtype and tensors[k].shape == v.shape, k
        assert torch.equal(tensors[k], v), k
    # Every byte item and common.pt load with weights_only=True (Namespace allowlisted, as megatron-core does).
    allow_megatron_globals()
    d = iteration_dir(meg)
    reader = FileSystemReader(d)
    byte_keys = [k for k, m in md.state_dict_metadata.items() if isinstance(m, BytesStorageMetadata)]
    assert byte_keys, "no _extra_state objects written"
    for k in byte_keys:
        (info,) = [i for idx, i in md.storage_data.items() if idx.fqn == k]
        with open(os.path.join(d, info.relative_path), "rb") as f:
            f.seek(info.offset)
            obj = torch.load(io.BytesIO(f.read(info.length)), weights_only=True)
        assert obj == [None], k
    common = torch.load(os.path.join(d, "common.pt"), weights_only=True)
    assert common["checkpoint_version"] == 3.0 and common["iteration"] == 0
    assert common["args"].num_layers == (4 if "dense" in model else 3)


def test_bf16_and_dtype_cast(out):
    meg = out / "m"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, "--dtype", "bf16", "--ep", "2", "--vision-layout", "hf")
    tensors, _ = dcp_global_tensors(meg)
    oracle = oracle_globals("qwen3_vl_moe_tiny", "hf")
    for k, v in oracle.items():
        assert tensors[k].dtype == torch.bfloat16
        assert torch.equal(tensors[k], v.to(torch.bfloat16)), k   # our rounding is torch's


@pytest.mark.parametrize("flags", [["--tp", "2"], ["--tp", "2", "--pp", "3", "--ep", "2"]], ids=["tp2", "tp2-pp3-ep2"])
def test_legacy_files_load_with_weights_only(out, flags):
    meg = out / "legacy"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, "--format", "legacy", "--vision-layout", "hf", *flags)
    allow_megatron_globals()
    d = iteration_dir(meg)
    ranks = sorted(n for n in os.listdir(d) if n.startswith("mp_rank_"))
    assert ranks
    total = 0
    for r in ranks:
        sd = torch.load(os.path.join(d, r, "model_optim_rng.pt"), weights_only=True)
        assert sd["checkpoint_version"] == 3.0
        assert sd["args"].tensor_model_parallel_size == int(flags[1])
        total += sum(v.numel() for v in sd["model"].values() if isinstance(v, torch.Tensor))
    assert total > 0


def test_we_read_what_torch_writes(out):
    """torch.distributed.checkpoint.save output (a plain DCP folder written by torch itself) reads in ckpt-bridge."""
    import torch.distributed.checkpoint as dcp
    oracle = oracle_globals("qwen3_vl_moe_tiny", "hf")
    d = out / "torch"
    d.mkdir()
    dcp.save(dict(oracle), storage_writer=dcp.FileSystemWriter(str(d)), no_dist=True)
    with open(d / "metadata.json", "w") as f:
        f.write('{"sharded_backend": "torch_dist", "sharded_backend_version": 1}')
    p = cli("diff", d, fixture("qwen3_vl_moe_tiny/megatron_global_tensors.safetensors"))
    assert "equal" in p.stdout

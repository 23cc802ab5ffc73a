"""Legacy (mp_rank_*) checkpoints checked against megatron-core itself rather than against our own reader:
megatron-core's GPTModel at TP2 holds, rank by rank, exactly the text tensors our legacy writer put in each
rank file; and a legacy checkpoint whose files torch.save wrote, with megatron-core's own state dicts for
the text model, exports to the original HF tensors."""
import json
import os
import shutil
import subprocess
import sys

import torch

from conftest import allow_megatron_globals, cli, fixture, iteration_dir
from test_megatron_core import HERE, free_port

MODEL = "qwen3_vl_dense_tiny"
TP = 2


def megatron_core_state_dicts(out):
    """Each TP rank's state dict of megatron-core's GPTModel loaded from our torch_dist import at TP2."""
    td = out / "torch_dist"
    cli("import", fixture(f"{MODEL}/hf"), td, "--tp", str(TP))
    d = iteration_dir(str(td))
    saved = out / "mcore"
    saved.mkdir()
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    p = subprocess.run([torchrun, "--nproc-per-node", str(TP), "--master-port", env["MASTER_PORT"],
                        os.path.join(HERE, "mcore_legacy_save.py"), d, os.path.join(d, "hf_config", "config.json"),
                        str(saved), str(TP)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    return [torch.load(saved / f"mcore_rank{r}.pt", weights_only=True) for r in range(TP)]


def tensors(d):
    return {k: v for k, v in d.items() if isinstance(v, torch.Tensor)}


def test_legacy_write_and_read_against_megatron_core(out):
    mcore = megatron_core_state_dicts(out)
    legacy = out / "legacy"
    cli("import", fixture(f"{MODEL}/hf"), legacy, "--format", "legacy", "--tp", str(TP), "--vision-layout", "hf")
    allow_megatron_globals()
    it = iteration_dir(str(legacy))
    torch_written = out / "torch_written"
    for r in range(TP):
        rank_dir = f"mp_rank_{r:02d}"
        ours = torch.load(os.path.join(it, rank_dir, "model_optim_rng.pt"), weights_only=True)
        theirs = tensors(mcore[r])
        ours_text = {k: v for k, v in tensors(ours["model"]).items() if k.startswith("language_model.")}
        # Our write: the same text tensors, names, shapes and bytes as megatron-core's rank r.
        assert set(ours_text) == set(theirs), sorted(set(ours_text) ^ set(theirs))
        for k, v in theirs.items():
            assert ours_text[k].dtype == v.dtype and ours_text[k].shape == v.shape and torch.equal(ours_text[k], v), k
        # Our read: a rank file that torch.save wrote, its text model straight from megatron-core.
        model = {k: v for k, v in ours["model"].items() if not k.startswith("language_model.") or k.endswith("_extra_state")}
        model.update(theirs)
        os.makedirs(torch_written / "release" / rank_dir)
        torch.save(dict(ours, model=model), torch_written / "release" / rank_dir / "model_optim_rng.pt")
    (torch_written / "latest_checkpointed_iteration.txt").write_text("release")
    hf_out = out / "hf_out"
    cli("export", torch_written, hf_out, "--hf-config", fixture(f"{MODEL}/hf"))
    p = cli("diff", fixture(f"{MODEL}/hf"), hf_out)
    assert "equal" in p.stdout, p.stdout
    # The forward pass merges megatron-core's own rank files by its reading of Megatron's modules (not by
    # the converter's reassembly) and must give transformers' logits for them.
    shutil.copytree(os.path.join(it, "hf_config"), torch_written / "release" / "hf_config")
    p = cli("verify", fixture(f"{MODEL}/hf"), torch_written, "--inputs", fixture(f"{MODEL}/reference.safetensors"))
    assert "verify: PASS" in p.stdout, p.stdout


def test_plan_lists_exactly_the_legacy_files_written(out):
    """`plan import --format legacy` describes the rank files, not torch_dist chunks: torch.load of each file
    that import wrote finds the planned tensors (rank-local names, shapes, dtypes) and _extra_state entries."""
    hf = fixture("qwen3_vl_moe_tiny/hf")
    args = ["--format", "legacy", "--tp", "2", "--ep", "2", "--vision-layout", "hf"]
    plan = json.loads(cli("plan", "import", hf, out / "never", *args, "--json").stdout)
    assert not (out / "never").exists()
    assert all("chunks" not in t for t in plan["tensors_detail"])
    legacy = out / "legacy"
    cli("import", hf, legacy, *args)
    allow_megatron_globals()
    it = iteration_dir(str(legacy))
    written = sorted(os.path.relpath(os.path.join(d, f), it) for d, _, fs in os.walk(it) for f in fs if f.endswith(".pt"))
    assert written == sorted(f["path"] for f in plan["files_detail"])
    for f in plan["files_detail"]:
        model = torch.load(os.path.join(it, f["path"]), weights_only=True)["model"]
        got = {k: (str(v.dtype), list(v.shape)) for k, v in tensors(model).items()}
        dtypes = {"F32": "torch.float32", "BF16": "torch.bfloat16", "F16": "torch.float16"}
        assert got == {t["name"]: (dtypes[t["dtype"]], t["shape"]) for t in f["tensors"]}, f["path"]
        assert sorted(k for k, v in model.items() if v is None) == sorted(f["extra_state"]), f["path"]
        assert f["tensor_bytes"] == sum(v.numel() * v.element_size() for v in tensors(model).values())

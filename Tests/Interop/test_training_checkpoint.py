"""Megatron-LM training iterations: megatron-core saves a real training run (Adam steps on the tiny dense
model, optimizer state sharded by megatron-core in two of its optimizers' layouts, RNG and rerun state,
scheduler, FLOP counter; iter_0000003 and iter_0000006) and `export` gives exactly the parameters
megatron-core holds after those steps: the bf16 model weights by default, the optimizer's fp32 master weights
with `--weights main-params`, any iteration with `--iteration N`. The expected values are megatron-core's own
saves of the trained model and of its master weights (mcore_train_save.py)."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import cli, dcp_global_tensors, fixture, iteration_dir
from test_megatron_core import HERE, free_port

MODEL = "qwen3_vl_dense_tiny"


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """(our import it started from, megatron-core's training checkpoint root, megatron-core's expected saves folder)."""
    out = tmp_path_factory.mktemp("training")
    meg = out / "megatron"
    cli("import", fixture(f"{MODEL}/hf"), meg, "--tp", "1")
    d = iteration_dir(str(meg))
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    port = str(free_port())
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1")
    p = subprocess.run([torchrun, "--nproc-per-node", "1", "--master-port", port, os.path.join(HERE, "mcore_train_save.py"),
                        d, os.path.join(d, "hf_config", "config.json"), str(out / "mcore")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    return meg, out / "mcore" / "train", out / "mcore"


def exported_back(out, name, *args):
    """`export ARGS` into out/name, then our import of it (import is proven bit-exact against megatron-core
    elsewhere), as global tensors under the Megatron keys; returns (tensors, export's stdout)."""
    p = cli("export", *args, out / name, "--hf-config", fixture(f"{MODEL}/hf"))
    cli("import", out / name, out / f"{name}-back", "--tp", "1")
    return dcp_global_tensors(str(out / f"{name}-back"))[0], p.stdout


def test_export_of_a_training_iteration_is_the_trained_model(out, training):
    meg, train, expected = training
    # inspect classifies the training state, from the DCP and from common.pt.
    info = cli("inspect", train, "--json").stdout
    for kind in ("optimizer", "rng_state", "rerun_state_machine", "opt_param_scheduler", "num_floating_point_operations_so_far"):
        assert kind in info, kind
    assert "fully_reshardable" in info and "fully_reshardable" not in cli("inspect", train, "--iteration", "3").stdout
    before, _ = dcp_global_tensors(str(meg))
    # The tracker names iteration 6; --iteration 3 reads the earlier save. Optimizer tensors are reported, not exported.
    for name, args, want in (("hf6", (train,), "model_6"), ("hf3", (train, "--iteration", "3"), "model_3")):
        ours, stdout = exported_back(out, name, *args)
        assert "training state left in the checkpoint" in stdout and "optimizer.state." in stdout
        trained, _ = dcp_global_tensors(str(expected / want))
        assert trained
        changed = 0
        for k, v in trained.items():
            assert v.dtype == torch.bfloat16 and ours[k].dtype == v.dtype and torch.equal(ours[k], v), (name, k)
            changed += not torch.equal(before[k], v)
        assert changed > len(trained) // 2, "training did not move the weights"
        # The untrained vision tower comes through unchanged.
        for k, v in before.items():
            if k not in trained:
                assert torch.equal(ours[k], v), k
    a, _ = dcp_global_tensors(str(expected / "model_3"))
    b, _ = dcp_global_tensors(str(expected / "model_6"))
    assert any(not torch.equal(a[k], b[k]) for k in a), "iterations 3 and 6 hold the same weights"


def test_main_params_are_the_optimizers_fp32_master_weights(out, training):
    meg, train, expected = training
    before, _ = dcp_global_tensors(str(meg))
    # iter_0000003: Float16OptimizerWithFloat16Params' layout (optimizer.state.fp32_param.*);
    # iter_0000006: DistributedOptimizer fully_reshardable (optimizer.state.param.*, from content_metadata).
    for name, args, want, layout in (("main3", (train, "--iteration", "3"), "main_3", "optimizer.state.fp32_param.*"),
                                     ("main6", (train,), "main_6", "optimizer.state.param.*")):
        ours, stdout = exported_back(out, name, *args, "--weights", "main-params")
        assert layout in stdout, stdout
        masters, _ = dcp_global_tensors(str(expected / want))
        assert masters
        for k, v in masters.items():
            assert v.dtype == torch.float32 and ours[k].dtype == torch.float32 and torch.equal(ours[k], v), (name, k)
        # Master weights carry the bits bf16 drops: they are not the model weights upcast.
        assert any(not torch.equal(v, v.bfloat16().float()) for v in masters.values())
        # The frozen vision tower (no optimizer state) comes from the model weights, unchanged.
        for k, v in before.items():
            if k not in masters:
                assert torch.equal(ours[k], v), k
    # A checkpoint without optimizer state has no master weights: a typed error, nothing written.
    p = cli("export", meg, out / "nomain", "--weights", "main-params", check=False)
    assert p.returncode == 2 and "holds no optimizer state" in p.stderr, p.stderr
    assert not (out / "nomain").exists()


def resaved(src, dst, edit, common_in_dcp=False):
    """iteration folder `src` re-saved by torch's DCP into `dst` with its tensors passed through `edit`
    (megatron-core's common.pt and metadata.json copied as they are). With `common_in_dcp`, the common state
    goes where megatron-core >= 0.19 puts it instead: its save turns ShardedObject 'common_state' into the DCP
    byte item `common_state/shard_0_1` holding torch.save([common state]) (torch strategy's
    `_mcore_to_torch_sharded_object`), with a metadata.json of only the sharded backend fields."""
    import json
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemWriter
    from torch.distributed.checkpoint.default_planner import DefaultSavePlanner
    from megatron.core.safe_globals import register_safe_globals
    tensors, _ = dcp_global_tensors(src)
    state = edit(tensors)
    os.makedirs(dst)
    if common_in_dcp:
        register_safe_globals()
        # torch's default planner torch.saves a non-tensor value: torch.save([common state]), megatron-core's bytes.
        state["common_state/shard_0_1"] = [torch.load(os.path.join(src, "common.pt"), weights_only=True)]
        json.dump({"sharded_backend": "torch_dist", "sharded_backend_version": 1}, open(os.path.join(dst, "metadata.json"), "w"))
    # Not flattened, so the list stays one object (megatron-core's planner does not flatten either).
    dcp.save(state, storage_writer=FileSystemWriter(str(dst)), planner=DefaultSavePlanner(flatten_state_dict=False), no_dist=True)
    for name in () if common_in_dcp else ("common.pt", "metadata.json"):
        shutil.copy(os.path.join(src, name), dst)
    return dst


def test_main_params_with_the_common_state_in_the_dcp(out, training):
    """megatron-core >= 0.19 layout of the same training save: content_metadata (fully_reshardable) is read
    from the common_state item, and the master weights are still megatron-core's, bit for bit."""
    _, train, expected = training
    d = resaved(iteration_dir(str(train)), out / "mc019" / "iter_0000006", lambda t: t, common_in_dcp=True)
    assert not os.path.exists(d / "common.pt")
    info = cli("inspect", d).stdout
    assert "common state: common_state/shard_0_1" in info and "fully_reshardable (content_metadata)" in info, info
    ours, stdout = exported_back(out, "mc019-hf", d, "--weights", "main-params")
    assert "by content_metadata distrib_optim_sharding_type 'fully_reshardable'" in stdout, stdout
    masters, _ = dcp_global_tensors(str(expected / "main_6"))
    for k, v in masters.items():
        assert ours[k].dtype == torch.float32 and torch.equal(ours[k], v), k


def test_main_params_refuse_what_they_cannot_read(out, training):
    _, train, _ = training
    it6 = iteration_dir(str(train))
    hf = fixture(f"{MODEL}/hf")

    def refused(d, *words):
        p = cli("export", d, out / "x", "--hf-config", hf, "--weights", "main-params", check=False)
        assert p.returncode == 2 and all(w in p.stderr for w in words), p.stderr
        assert not (out / "x").exists()

    master = next(k for k in dcp_global_tensors(it6)[0] if k.startswith("optimizer.state.param."))
    # A trained parameter whose master copy is missing: its Adam moments are there, so it was not frozen.
    refused(resaved(it6, out / "nomaster", lambda t: {k: v for k, v in t.items() if k != master}),
            "has optimizer state", "no master copy", master[len("optimizer.state.param."):])
    # Unless the model tensor is fp32 itself: Float16Optimizer steps fp32 parameters in place (no copy).
    key = master[len("optimizer.state.param."):]
    own = resaved(it6, out / "own", lambda t: {**{k: v for k, v in t.items() if k != master}, key: t[master]})
    p = cli("export", own, out / "own-hf", "--hf-config", hf, "--weights", "main-params")
    assert "1 fp32 tensor(s) stepped in place" in p.stdout, p.stdout
    cli("export", it6, out / "main-hf", "--hf-config", hf, "--weights", "main-params")
    assert cli("diff", out / "own-hf", out / "main-hf").returncode == 0
    # A master copy of another shape.
    refused(resaved(it6, out / "shape", lambda t: {**t, master: t[master].reshape(-1)}), "master copy has shape")
    # DistributedOptimizer dp_reshardable: flat buckets, no per-parameter masters.
    bucket = "optimizer.distributed.dp_group_idx_0.gbuf_idx_0.dtype_torch.float32.bucket_idx_0.param"
    refused(resaved(it6, out / "dp", lambda t: {**{k: v for k, v in t.items() if not k.startswith("optimizer.")},
                                                bucket: torch.zeros(64)}), "dp_reshardable")


def test_missing_iteration_lists_those_present(out, training):
    _, train, _ = training
    p = cli("export", train, out / "hf9", "--iteration", "9", "--hf-config", fixture(f"{MODEL}/hf"), check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "present: iter_0000003, iter_0000006" in p.stderr and "the tracker names 6" in p.stderr, p.stderr
    assert not (out / "hf9").exists()


def test_a_torch_dist_save_without_its_files_is_not_taken_for_fsdp_dtensor(out, training):
    _, train, _ = training
    d = out / "fsdp"
    shutil.copytree(iteration_dir(str(train)), d)
    # Megatron FSDP's fsdp_dtensor: a bare DCP save, neither metadata.json nor a common state.
    os.remove(d / "metadata.json")
    os.remove(d / "common.pt")
    p = cli("inspect", d, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    # Read as Megatron FSDP's format, whose model tensors are model.*: the torch_dist keys are refused by name.
    assert "fsdp_dtensor checkpoint" in p.stderr and "neither model.* nor training state" in p.stderr and ".metadata" in p.stderr



def test_python_package_takes_iteration_and_weights(out, training):
    """The C ABI / Python package reads the same iteration and weights as the CLI: byte-identical output."""
    from conftest import CLI, ROOT
    _, train, _ = training
    os.environ.setdefault("CKPT_BRIDGE_LIBRARY", os.path.join(os.path.dirname(CLI), "libCheckpointBridgeC.so"))
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import ckpt_bridge as cb
    hf = fixture(f"{MODEL}/hf")
    cb.export_hf(train, out / "py", hf_config=hf, iteration=3, weights="main-params", progress=False)
    cli("export", train, out / "cli", "--hf-config", hf, "--iteration", "3", "--weights", "main-params")
    for name in sorted(os.listdir(out / "cli")):
        a, b = out / "cli" / name, out / "py" / name
        assert os.path.isdir(a) or open(a, "rb").read() == open(b, "rb").read(), name
    with pytest.raises(cb.BridgeError) as e:
        cb.plan_export(train, hf_config=hf, iteration=9)
    assert "present: iter_0000003, iter_0000006" in str(e.value)

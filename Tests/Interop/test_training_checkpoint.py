"""Megatron-LM training iterations: megatron-core saves a real training checkpoint (three Adam steps on the
tiny dense model, optimizer state sharded by megatron-core, RNG and rerun state, scheduler, FLOP counter)
and `export` gives exactly the parameters megatron-core holds after those steps, with the training state
classified, never taken for weights. The expected values are megatron-core's own save of the trained model."""
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
    """(our import it started from, megatron-core's training checkpoint root, megatron-core's save of the trained model)."""
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
    return meg, out / "mcore" / "train", out / "mcore" / "model_only"


def test_export_of_a_training_iteration_is_the_trained_model(out, training):
    meg, train, model_only = training
    # inspect classifies the training state, from the DCP and from common.pt.
    info = cli("inspect", train, "--json").stdout
    for kind in ("optimizer", "rng_state", "rerun_state_machine", "opt_param_scheduler", "num_floating_point_operations_so_far"):
        assert kind in info, kind
    # export reads iter_0000003 through the tracker; optimizer tensors are reported, not exported.
    p = cli("export", train, out / "hf", "--hf-config", fixture(f"{MODEL}/hf"))
    assert "training state left in the checkpoint" in p.stdout and "optimizer.state." in p.stdout
    # Our import of that export (import is proven bit-exact against megatron-core elsewhere) holds exactly the
    # parameters megatron-core saved after training; the steps did change them.
    cli("import", out / "hf", out / "back", "--tp", "1")
    ours, _ = dcp_global_tensors(str(out / "back"))
    trained, _ = dcp_global_tensors(str(model_only))
    before, _ = dcp_global_tensors(str(meg))
    assert trained
    changed = 0
    for k, v in trained.items():
        assert ours[k].shape == v.shape and torch.equal(ours[k], v), k
        changed += not torch.equal(before[k], v)
    assert changed > len(trained) // 2, "training did not move the weights"
    # The untrained vision tower comes through unchanged.
    for k, v in before.items():
        if k not in trained:
            assert torch.equal(ours[k], v), k


def test_fsdp_dtensor_is_refused_by_name(out, training):
    _, train, _ = training
    d = out / "fsdp"
    shutil.copytree(iteration_dir(str(train)), d)
    # Megatron FSDP's fsdp_dtensor: a bare DCP save, neither metadata.json nor a common state.
    os.remove(d / "metadata.json")
    os.remove(d / "common.pt")
    p = cli("inspect", d, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "fsdp_dtensor checkpoints are not supported yet" in p.stderr and ".metadata" in p.stderr


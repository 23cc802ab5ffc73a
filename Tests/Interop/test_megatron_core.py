"""megatron-core loads ckpt-bridge's checkpoints into a GPTModel (the Qwen3-VL text model) at TP1 and TP2,
and EP2 for MoE, on CPU with gloo, bit-exact: re-saving the loaded model with megatron-core's own writer
gives back exactly the tensors we wrote."""
import os
import socket
import subprocess
import sys

import pytest
import torch

from conftest import cli, dcp_global_tensors, fixture, iteration_dir

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = [
    # model, import flags, load at (tp, ep)
    ("qwen3_vl_dense_tiny", ["--tp", "1"], 1, 1),
    ("qwen3_vl_dense_tiny", ["--tp", "2"], 2, 1),
    ("qwen3_vl_dense_tiny", ["--tp", "1"], 2, 1),   # resharded on load
    ("qwen3_vl_moe_tiny", ["--ep", "2", "--vision-layout", "hf"], 1, 1),
    ("qwen3_vl_moe_tiny", ["--tp", "2", "--ep", "2", "--vision-layout", "hf"], 2, 1),
    ("qwen3_vl_moe_tiny", ["--tp", "1"], 1, 2),
]


@pytest.mark.parametrize("model,flags,tp,ep", CASES, ids=lambda x: "-".join(x) if isinstance(x, list) else str(x))
def test_megatron_core_loads_bit_exact(out, model, flags, tp, ep):
    meg = out / "megatron"
    cli("import", fixture(f"{model}/hf"), meg, *flags)
    d = iteration_dir(str(meg))
    resaved = out / "resaved"
    resaved.mkdir()
    nproc = max(tp, ep)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    p = subprocess.run([torchrun, "--nproc-per-node", str(nproc), "--master-port", env["MASTER_PORT"],
                        os.path.join(HERE, "mcore_roundtrip.py"), d, os.path.join(d, "hf_config", "config.json"),
                        str(resaved), str(tp), str(ep)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    ours, _ = dcp_global_tensors(str(meg))
    theirs, _ = dcp_global_tensors(str(resaved))
    assert theirs, "megatron-core saved nothing"
    for k, v in theirs.items():
        assert k in ours, f"megatron-core has {k}, which we did not write"
        assert ours[k].shape == v.shape and torch.equal(ours[k], v), k
    text_keys = {k for k in ours if k.startswith("language_model.")}
    assert text_keys == set(theirs), sorted(text_keys ^ set(theirs))

"""DistributedOptimizer `dp_reshardable` training iterations, made by megatron-core 0.16.1's own DDP +
DistributedOptimizer on CPU (scripts/oracle/make_dp_reshardable_save.py): `export` reads the model weights and
leaves the flat buckets as training state; `--weights main-params` is refused because which bucket slice is
which parameter is not in the checkpoint. The proof of that is megatron-core's: the same model with two
same-shaped parameters registered in the other order saves identical metadata with their slots exchanged."""
import io
import os
import subprocess
import sys

import pytest

from conftest import cli, dcp_global_tensors, fixture, iteration_dir
from test_megatron_core import free_port

MODEL = "qwen3_vl_dense_tiny"
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "oracle", "make_dp_reshardable_save.py")
Q = "language_model.decoder.layers.self_attention.q_layernorm.weight"
K = Q.replace("q_layernorm", "k_layernorm")


@pytest.fixture(scope="module")
def saves(tmp_path_factory):
    """{'plain': root, 'swapped': root}: megatron-core's saves of the same training, q/k norms registered either way."""
    out = tmp_path_factory.mktemp("dpresh")
    cli("import", fixture(f"{MODEL}/hf"), out / "imported", "--tp", "1")
    d = iteration_dir(str(out / "imported"))
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    runs = {}
    for name, extra in (("plain", []), ("swapped", ["--swap-qk"])):
        port = str(free_port())
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1")
        runs[name] = subprocess.Popen([torchrun, "--nproc-per-node", "1", "--master-port", port, WORKER,
                                       os.path.join(d, "hf_config", "config.json"), str(out / name / "iter_0000003"), "--rest", d, *extra],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for name, p in runs.items():
        so, se = p.communicate(timeout=600)
        assert p.returncode == 0, name + so[-3000:] + se[-6000:]
    return {name: out / name for name in runs}


def bucket_keys(tensors):
    return sorted(k for k in tensors if k.startswith("optimizer.distributed.") and ".bucket_idx_" in k)


def test_the_bucket_layout_is_not_in_the_checkpoint(saves):
    """megatron-core's two saves agree in every key, shape and chunk, yet a q_layernorm slot of one is a k_layernorm slot of the other."""
    import torch
    (a, ma), (b, mb) = dcp_global_tensors(str(saves["plain"])), dcp_global_tensors(str(saves["swapped"]))
    layout = lambda md: {k: (getattr(m, "size", None), [(tuple(c.offsets), tuple(c.sizes)) for c in getattr(m, "chunks", [])])
                         for k, m in md.state_dict_metadata.items()}
    assert layout(ma) == layout(mb)
    assert torch.equal(a[Q], b[Q]) and torch.equal(a[K], b[K]) and not torch.equal(a[Q], a[K])
    bucket = next(k for k in bucket_keys(a) if k.endswith(".param"))
    head = a[Q].shape[-1]
    slots = [c.offsets[0] for c in ma.state_dict_metadata[bucket].chunks if tuple(c.sizes) == (head,)]
    assert slots

    def whose(t, off):
        s = t[bucket][off:off + head].to(torch.bfloat16)  # the model copy is the master cast to bf16
        return {n for n in (Q, K) for row in t[n] if torch.equal(row, s)}
    assert [whose(a, o) for o in slots] != [whose(b, o) for o in slots]
    assert all(len(whose(a, o)) == 1 and whose(a, o) != whose(b, o) for o in slots)


@pytest.mark.parametrize("name", ["plain", "swapped"])
def test_main_params_refused_naming_what_is_missing(out, saves, name):
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader
    d = iteration_dir(str(saves[name]))
    key = "optimizer.distributed.dp_group_idx_0.per_bucket_numel_unpadded/shard_0_1"
    state = {key: io.BytesIO()}
    dcp.load(state, storage_reader=FileSystemReader(d), no_dist=True)
    numel = sum(n for buffer in state[key][0] for per_dtype in buffer.values() for n in per_dtype)  # megatron-core's own count
    tensors, _ = dcp_global_tensors(d)
    buckets = bucket_keys(tensors)
    p = cli("export", saves[name], out / "hf", "--hf-config", fixture(f"{MODEL}/hf"), "--weights", "main-params", check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "dp_reshardable" in p.stderr and f"({numel} elements; {len(buckets)} bucket tensors in all)" in p.stderr, p.stderr
    assert "named_parameters() order" in p.stderr and "--dist-ckpt-optim-fully-reshardable" in p.stderr, p.stderr
    assert f"key '{next(k for k in buckets if k.endswith('.param'))}'" in p.stderr, p.stderr
    assert not (out / "hf").exists()


def test_model_weights_export_leaves_the_buckets(out, saves):
    """export (model weights) of the dp_reshardable iteration gives back megatron-core's saved bf16 model exactly."""
    import torch
    saved, _ = dcp_global_tensors(str(saves["plain"]))
    p = cli("export", saves["plain"], out / "hf", "--hf-config", fixture(f"{MODEL}/hf"))
    assert f"training state left in the checkpoint (not model weights): {len(bucket_keys(saved))} tensor(s)" in p.stdout, p.stdout
    cli("import", out / "hf", out / "back", "--tp", "1")
    back, _ = dcp_global_tensors(str(out / "back"))
    text = [k for k in saved if k.startswith("language_model.") and k in back]
    assert Q in text and len(text) >= 10
    for k in text:
        assert torch.equal(back[k].to(saved[k].dtype), saved[k]), k

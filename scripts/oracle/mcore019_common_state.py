"""megatron-core 0.19.2's common state in the DCP (`common_state/shard_0_1`, no common.pt), both ways.

Runs in a venv with megatron-core 0.19.2 (see Fixtures/README.md: /work/venvs/mcore019, the interop venv's
packages plus the 0.19.2 wheel's pure-python files, triton and absl-py), one process, gloo on CPU.

    python mcore019_common_state.py make SRC_TORCH_DIST OUT_ROOT
        Re-saves the tensors of SRC (a torch_dist folder, e.g. our import of the tiny dense model) with
        megatron-core 0.19.2's `dist_checkpointing.save`, the state dict Megatron-LM's `save_checkpoint`
        builds (the model's ShardedTensors, `args` as an argparse.Namespace, `checkpoint_version`,
        `iteration`) and no run_config.yaml or hf_config/: a Megatron-LM training save as megatron-core
        >= 0.19 writes it, into OUT_ROOT/iter_0000002 with the tracker.
    python mcore019_common_state.py check DIR [DIR...]
        Loads each folder with megatron-core 0.19.2's own loader (`load_common_state_dict`, then
        `dist_checkpointing.load` of every tensor key from `load_tensors_metadata`, none missing) and prints
        JSON: where the common state came from, its keys, the args' model fields, the tensor count.
"""
import json
import os
import sys


def init():
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29561")
    import torch
    # megatron-core synchronizes CUDA around saves; nothing here is on a GPU (no effect on the bytes written).
    torch.cuda.current_device = lambda: "cpu"
    torch.cuda.synchronize = lambda *a, **k: None
    torch.distributed.init_process_group("gloo", rank=0, world_size=1)
    from megatron.core import parallel_state
    parallel_state.initialize_model_parallel()
    from megatron.core.safe_globals import register_safe_globals
    register_safe_globals()


def make(src, root):
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedTensor
    md = FileSystemReader(src).read_metadata()
    tensors = {k: torch.empty(list(m.size), dtype=m.properties.dtype) for k, m in md.state_dict_metadata.items()
               if isinstance(m, TensorStorageMetadata)}
    dcp.load(tensors, storage_reader=FileSystemReader(src), no_dist=True)
    # The args Megatron-LM would have saved for this model: the ones our import records in common.pt.
    args = torch.load(os.path.join(src, "common.pt"), weights_only=True)["args"]
    args.iteration = 2
    args.ckpt_format = "torch_dist"
    state = {
        "model": {k: ShardedTensor.from_rank_offsets(k, t, replica_id=0) for k, t in tensors.items()},
        "args": args,
        "checkpoint_version": 3.0,
        "iteration": 2,
    }
    it = os.path.join(root, "iter_0000002")
    os.makedirs(it)
    dist_checkpointing.save(state, it)
    with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("2")


def check(d):
    import torch
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.serialization import _legacy_common_state_exists
    common = dist_checkpointing.load_common_state_dict(d)
    meta = dist_checkpointing.load_tensors_metadata(d)
    # Every tensor key requested; the checkpoint's other items (the _extra_state objects) are reported.
    loaded, missing, unexpected = dist_checkpointing.load(dict(meta), d, strict="return_all")
    assert not unexpected, unexpected  # megatron-core: requested but not in the checkpoint
    args = common.get("args")
    return {
        "dir": d,
        "common_state_from": "common.pt" if _legacy_common_state_exists(d) else "common_state item",
        "common_keys": sorted(common),
        "args": {k: getattr(args, k, None) for k in ("num_layers", "hidden_size", "num_attention_heads", "num_query_groups",
                                                      "ffn_hidden_size", "kv_channels")} if args is not None else None,
        "args_type": type(args).__module__ + "." + type(args).__name__,
        "tensors_loaded": sum(isinstance(v, torch.Tensor) for v in loaded.values()),
        "tensor_keys": len(meta),
        "other_items": len(missing),  # in the checkpoint, not requested
    }


if __name__ == "__main__":
    init()
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps([check(d) for d in sys.argv[2:]], indent=1, sort_keys=True))

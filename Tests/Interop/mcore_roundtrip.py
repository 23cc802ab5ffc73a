"""Worker for test_megatron_core.py, run under torchrun (gloo, CPU).

Builds a megatron-core GPTModel for the text model of a Qwen3-VL checkpoint (local layer spec, CPU
initialisation), loads the checkpoint with `dist_checkpointing.load` at the requested TP/EP, then saves the
loaded model again with megatron-core's own `dist_checkpointing.save`. The test compares the global tensors
of that re-save with the checkpoint: if megatron-core had placed any byte elsewhere, they would differ.

    torchrun --nproc-per-node N mcore_roundtrip.py CKPT_DIR HF_CONFIG_JSON OUT_DIR TP EP
"""
import json
import os
import sys

from mcore_model import build_gpt, init, load_torch_dist


def main():
    ckpt, cfg_path, out, tp, ep = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    rank, world = init(tp, ep)
    import torch
    from megatron.core import dist_checkpointing
    model, _, _, prefix = build_gpt(cfg_path, tp, ep)
    load_torch_dist(model, prefix, ckpt)
    torch.distributed.barrier()
    dist_checkpointing.save(model.sharded_state_dict(prefix=prefix), out)
    torch.distributed.barrier()
    if rank == 0:
        with open(os.path.join(out, "loaded.json"), "w") as f:
            json.dump({"tp": tp, "ep": ep, "world": world, "params": sum(p.numel() for p in model.parameters())}, f)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

"""Worker for test_legacy_megatron_core.py, run under torchrun (gloo, CPU).

Loads a torch_dist checkpoint into megatron-core's GPTModel at TP=N, then saves each rank's
`state_dict_for_save_checkpoint()` (what Megatron-LM's legacy save puts under "model") with torch.save. The
local layer spec keeps the layer norms as separate modules; the keys are renamed with the spec's own
`sharded_state_dict_keys_map`, which gives the names a Transformer-Engine model's state dict has (the norm
fused into linear_qkv / linear_fc1), as Megatron-LM writes for the models Megatron-Bridge builds.

    torchrun --nproc-per-node N mcore_legacy_save.py TORCH_DIST_DIR HF_CONFIG_JSON OUT_DIR TP
"""
import os
import re
import sys

from mcore_model import build_gpt, init, load_torch_dist


def te_names(state, keys_map):
    out = {}
    for k, v in state.items():
        for old, new in keys_map.items():
            k = re.sub(r"(layers\.\d+\.)" + re.escape(old), lambda m: m.group(1) + new, k)
        out[k] = v
    return out


def main():
    ckpt, cfg_path, out, tp = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rank, _ = init(tp)
    import torch
    model, spec, _, prefix = build_gpt(cfg_path, tp)
    load_torch_dist(model, prefix, ckpt)
    state = te_names(model.state_dict_for_save_checkpoint(), spec.submodules.sharded_state_dict_keys_map)
    torch.save({prefix + k: v for k, v in state.items()}, os.path.join(out, f"mcore_rank{rank}.pt"))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

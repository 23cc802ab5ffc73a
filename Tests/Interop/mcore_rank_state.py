"""Worker for test_python_package.py, run under torchrun (gloo, CPU): ckpt_bridge.rank_state_dict against
megatron-core itself.

Each rank builds megatron-core's GPTModel at TP/EP, loads the torch_dist checkpoint our import wrote with
megatron-core's dist_checkpointing, and takes the logits of a fixed prompt. Then a second model, initialised
with another seed, is filled from `rank_state_dict(HF_DIR, layout, this rank)` alone, with no checkpoint on
disk, and runs the same prompt. The rank writes what it found to OUT_DIR/rank{R}.json: the keys each side
has, the tensors that differ, and whether the logits are equal.

    torchrun --nproc-per-node N mcore_rank_state.py HF_DIR TORCH_DIST_DIR HF_CONFIG_JSON OUT_DIR TP EP VISION_LAYOUT
"""
import json
import os
import re
import sys

from mcore_legacy_save import te_names
from mcore_model import build_gpt, init, load_torch_dist

# Our names are Megatron-Bridge's (TEGroupedMLP: experts.linear_fc1.weight{i}); the local spec's
# SequentialMLP names the same tensor experts.local_experts.{i}.linear_fc1.weight.
GROUPED = re.compile(r"\.experts\.(linear_fc[12])\.weight(\d+)$")


def local_expert_names(key):
    return GROUPED.sub(lambda m: f".experts.local_experts.{m.group(2)}.{m.group(1)}.weight", key)


def logits(model, vocab):
    import torch
    ids = (torch.arange(12, dtype=torch.long).unsqueeze(0) * 37 + 5) % vocab
    pos = torch.arange(12, dtype=torch.long).unsqueeze(0)
    mask = torch.triu(torch.ones(1, 1, 12, 12, dtype=torch.bool), diagonal=1)
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, position_ids=pos, attention_mask=mask)


def main():
    hf, ckpt, cfg_path, out, tp, ep, vision = sys.argv[1:8]
    tp, ep = int(tp), int(ep)
    rank, _ = init(tp, ep)
    import torch
    from megatron.core import parallel_state, tensor_parallel
    import ckpt_bridge

    model, spec, cfg, prefix = build_gpt(cfg_path, tp, ep)
    vocab = cfg.get("text_config", cfg)["vocab_size"]
    load_torch_dist(model, prefix, ckpt)
    keys_map = spec.submodules.sharded_state_dict_keys_map
    theirs = {prefix + k: v for k, v in te_names(model.state_dict_for_save_checkpoint(), keys_map).items()
              if isinstance(v, torch.Tensor)}
    reference = logits(model, vocab)

    me = ckpt_bridge.Rank(tp=parallel_state.get_tensor_model_parallel_rank(), pp=0,
                          ep=parallel_state.get_expert_model_parallel_rank())
    ours = {}
    for key, t in ckpt_bridge.rank_state_dict(hf, layout={"tp": tp, "ep": ep}, rank=me, as_torch=True,
                                              vision_layout=vision):
        if key.startswith(prefix) and not key.endswith("_extra_state"):
            ours[local_expert_names(key)] = t
    differing = [k for k, v in theirs.items() if k in ours and not (ours[k].dtype == v.dtype and ours[k].shape == v.shape
                                                                   and torch.equal(ours[k], v))]

    # A fresh model (another seed), filled from rank_state_dict alone: local-spec names for load_state_dict.
    tensor_parallel.model_parallel_cuda_manual_seed(1234)
    fresh, _, _, _ = build_gpt(cfg_path, tp, ep)
    inverse = {new: old for old, new in keys_map.items()}
    state = {}
    for k, v in ours.items():
        k = k[len(prefix):]
        for new, old in inverse.items():
            k = re.sub(r"(layers\.\d+\.)" + re.escape(new), lambda m: m.group(1) + old, k)
        state[k] = v
    before = logits(fresh, vocab)  # another initialisation: the comparison below cannot pass by itself
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    loaded = logits(fresh, vocab)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"rank": [me.tp, me.pp, me.ep], "theirs": sorted(theirs), "ours": sorted(ours), "differing": differing,
                   "missing": [k for k in missing if not k.endswith("_extra_state")], "unexpected": list(unexpected),
                   "logits_equal": bool(torch.equal(reference, loaded)), "differed_before_load": not torch.equal(reference, before),
                   "max_abs": float((reference - loaded).abs().max()), "logits_shape": list(reference.shape)}, f)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

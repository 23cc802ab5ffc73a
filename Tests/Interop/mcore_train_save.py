"""Worker for test_training_checkpoint.py, run under torchrun (gloo, CPU, one rank).

Makes a Megatron-LM-style training checkpoint with megatron-core: loads a torch_dist checkpoint into the
GPTModel of the text model, takes three Adam steps on random tokens, then `dist_checkpointing.save`s the
state dict Megatron-LM's training loop saves (model, optimizer via megatron-core's optimizer sharding
(`optim_state_to_sharding_state`), rng_state, rerun_state_machine, opt_param_scheduler,
num_floating_point_operations_so_far, iteration) into OUT/train/iter_0000003 with a tracker. The vision
tower is not trained; its tensors are carried over unchanged as ShardedTensors. OUT/model_only is the
trained model alone (text weights only), the expected values.

    torchrun --nproc-per-node 1 mcore_train_save.py CKPT_DIR HF_CONFIG_JSON OUT_DIR
"""
import os
import sys

from mcore_model import build_gpt, init, load_torch_dist


def main():
    ckpt, cfg_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    init(1)
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedObject, ShardedTensor
    from megatron.core.optimizer.optimizer import get_param_id_to_sharded_param_map, optim_state_to_sharding_state

    model, _, cfg, prefix = build_gpt(cfg_path, 1)
    load_torch_dist(model, prefix, ckpt)
    tc = cfg.get("text_config", cfg)
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(3):
        tokens = torch.randint(0, tc["vocab_size"], (2, 9))
        pos = torch.arange(8).unsqueeze(0).expand(2, 8)
        mask = torch.triu(torch.ones(8, 8), diagonal=1).bool().view(1, 1, 8, 8)  # megatron's default mask is made on CUDA
        logits = model(tokens[:, :-1], pos, mask)  # [b, s, vocab]; torch's loss (megatron's vocab-parallel one is CUDA-minded)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1))
        adam.zero_grad()
        loss.backward()
        adam.step()

    text = model.sharded_state_dict(prefix=prefix)
    # What megatron-core's FP32Optimizer.sharded_state_dict does (its constructor allocates on CUDA).
    # Adam's scalar `step` is kept per group, as apex/TE FusedAdam do; the fp32 master copy of each
    # parameter is stored as `fp32_param`, as megatron-core's mixed-precision optimizers shard it.
    optim = adam.state_dict()
    params = list(model.parameters())
    for i, st in optim["state"].items():
        st.pop("step")
        st["fp32_param"] = params[i].detach().float().clone()
    optim["param_groups"][0]["step"] = 3
    optim_state_to_sharding_state(optim, get_param_id_to_sharded_param_map(text, params))
    # The untrained rest (vision tower, ...) as it was in the input checkpoint.
    md = FileSystemReader(ckpt).read_metadata()
    text_keys = {v.key for v in text.values() if hasattr(v, "key")}  # ShardedTensors and factories (fused fc1)
    rest = {k: torch.empty(list(m.size), dtype=m.properties.dtype) for k, m in md.state_dict_metadata.items()
            if isinstance(m, TensorStorageMetadata) and k not in text_keys}
    dcp.load(rest, storage_reader=FileSystemReader(ckpt), no_dist=True)
    full = dict(text)
    for k, t in rest.items():
        full["rest." + k] = ShardedTensor.from_rank_offsets(k, t, replica_id=0)
    state = {
        "model": full,
        "optimizer": optim,
        "rng_state": ShardedObject("rng_state", [{"random_rng_state": torch.get_rng_state().tolist()}], (1, 1), (0, 0), replica_id=0),
        "rerun_state_machine": ShardedObject("rerun_state_machine_state", [{"mode": 0}], (1,), (0,), replica_id=0),
        "opt_param_scheduler": {"max_lr": 1e-2, "min_lr": 0.0, "num_steps": 3},
        "num_floating_point_operations_so_far": 1234.0,
        "iteration": 3,
        "checkpoint_version": 3.0,
    }
    root = os.path.join(out, "train")
    it = os.path.join(root, "iter_0000003")
    os.makedirs(it)
    dist_checkpointing.save(state, it)
    with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("3")
    model_only = os.path.join(out, "model_only")
    os.makedirs(model_only)
    dist_checkpointing.save(model.sharded_state_dict(prefix=prefix), model_only)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

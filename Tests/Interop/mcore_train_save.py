"""Worker for test_training_checkpoint.py, run under torchrun (gloo, CPU, one rank).

Makes a Megatron-LM-style training run with megatron-core: loads a torch_dist checkpoint into the GPTModel
of the text model and takes Adam steps on random tokens, saving two iterations into OUT/train with
`dist_checkpointing.save` and the state dict Megatron-LM's training loop saves (model, optimizer, rng_state,
rerun_state_machine, opt_param_scheduler, num_floating_point_operations_so_far, iteration):

- iter_0000003 (after 3 steps): optimizer in the layout of megatron-core's Float16OptimizerWithFloat16Params
  (fp32 master copies under `optimizer.state.fp32_param.*` via `make_sharded_optimizer_tensor`, Adam
  moments via `optim_state_to_sharding_state`, a common step);
- iter_0000006 (after 3 more, the tracker's): the DistributedOptimizer's `fully_reshardable` layout
  (`optimizer.state.{param,exp_avg,exp_avg_sq}.*` per parameter, as `sharded_param_state_fully_reshardable`
  names them, `content_metadata={'distrib_optim_sharding_type': 'fully_reshardable'}`).

Mixed precision as megatron-core's: the fp32 parameters Adam steps are the master weights; the model copy
saved is cast to bf16 (`_copy_main_params_to_model_params`). Neither megatron-core optimizer class can be
built on CPU (both accept only torch.cuda.*Tensor parameters, and DistributedOptimizer's grad buffers are
allocated on torch.cuda.current_device()), so the optimizer state is sharded with megatron-core's own
helpers in those classes' layouts. The vision tower is not trained; its tensors are carried over unchanged.
Expected values, saved by megatron-core too: OUT/model_N (the bf16 model) and OUT/main_N (the fp32 masters,
as the model's sharded state dict).

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
    from megatron.core.dist_checkpointing.optimizer import make_sharded_optimizer_tensor
    from megatron.core.optimizer.optimizer import get_param_id_to_sharded_param_map, optim_state_to_sharding_state

    model, _, cfg, prefix = build_gpt(cfg_path, 1)
    load_torch_dist(model, prefix, ckpt)
    tc = cfg.get("text_config", cfg)
    params = list(model.parameters())
    adam = torch.optim.Adam(params, lr=1e-2)
    torch.manual_seed(0)
    # The untrained rest (vision tower, ...) as it was in the input checkpoint.
    md = FileSystemReader(ckpt).read_metadata()
    text_keys = {v.key for v in model.sharded_state_dict(prefix=prefix).values() if hasattr(v, "key")}
    rest = {k: torch.empty(list(m.size), dtype=m.properties.dtype) for k, m in md.state_dict_metadata.items()
            if isinstance(m, TensorStorageMetadata) and k not in text_keys}
    dcp.load(rest, storage_reader=FileSystemReader(ckpt), no_dist=True)
    root = os.path.join(out, "train")

    def steps(n):
        for _ in range(n):
            tokens = torch.randint(0, tc["vocab_size"], (2, 9))
            pos = torch.arange(8).unsqueeze(0).expand(2, 8)
            mask = torch.triu(torch.ones(8, 8), diagonal=1).bool().view(1, 1, 8, 8)  # megatron's default mask is made on CUDA
            logits = model(tokens[:, :-1], pos, mask)  # [b, s, vocab]; torch's loss (megatron's vocab-parallel one is CUDA-minded)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1))
            adam.zero_grad()
            loss.backward()
            adam.step()

    def optimizer_state(text, masters, layout):
        """The optimizer part of the state dict, in megatron-core's layout `layout`, for the bf16 model `text`."""
        optim = adam.state_dict()
        optim["state"] = {i: dict(st) for i, st in optim["state"].items()}  # state_dict() shares the live per-param dicts
        ids = get_param_id_to_sharded_param_map(text, params)
        step = int(optim["state"][0]["step"])
        for st in optim["state"].values():
            st.pop("step")  # kept once, as megatron-core's _extract_common_per_param_step does
        if layout == "float16":
            # The master copies first: optim_state_to_sharding_state replaces param_groups' ids.
            fp32 = [[make_sharded_optimizer_tensor(ids[i], masters[i], prefix="optimizer.state.fp32_param") for i in g["params"]]
                    for g in optim["param_groups"]]
            optim_state_to_sharding_state(optim, ids, exclude_keys="step")
            optim["state"]["common_step"] = step
            return {"optimizer": optim, "fp32_from_fp16_params": fp32}
        state = {i: {"param": make_sharded_optimizer_tensor(ids[i], masters[i], prefix="optimizer.state.param"),
                     **{k: make_sharded_optimizer_tensor(ids[i], v, prefix=f"optimizer.state.{k}") for k, v in st.items()}}
                 for i, st in optim["state"].items()}
        optim["state"] = {}
        for g in optim["param_groups"]:
            g["step"] = step
        return {"optimizer": optim, "param_state": state, "param_state_sharding_type": "fully_reshardable"}

    def save(iteration, layout):
        # The fp32 parameters are the master weights: save them (expected values), then cast the model to bf16.
        masters = [p.detach().clone() for p in params]
        dist_checkpointing.save(model.sharded_state_dict(prefix=prefix), mkdir(out, f"main_{iteration}"))
        model.bfloat16()
        text = model.sharded_state_dict(prefix=prefix)
        full = dict(text)
        for k, t in rest.items():
            full["rest." + k] = ShardedTensor.from_rank_offsets(k, t, replica_id=0)
        state = {
            "model": full,
            "optimizer": optimizer_state(text, masters, layout),
            "rng_state": ShardedObject("rng_state", [{"random_rng_state": torch.get_rng_state().tolist()}], (1, 1), (0, 0), replica_id=0),
            "rerun_state_machine": ShardedObject("rerun_state_machine_state", [{"mode": 0}], (1,), (0,), replica_id=0),
            "opt_param_scheduler": {"max_lr": 1e-2, "min_lr": 0.0, "num_steps": iteration},
            "num_floating_point_operations_so_far": 1234.0 * iteration,
            "iteration": iteration,
            "checkpoint_version": 3.0,
        }
        content = {"distrib_optim_sharding_type": "fully_reshardable"} if layout == "fully_reshardable" else None
        dist_checkpointing.save(state, mkdir(root, f"iter_{iteration:07d}"), content_metadata=content)
        with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
            f.write(str(iteration))
        dist_checkpointing.save(model.sharded_state_dict(prefix=prefix), mkdir(out, f"model_{iteration}"))
        # Back to the fp32 masters for the next steps.
        model.float()
        with torch.no_grad():
            for p, m in zip(params, masters):
                p.copy_(m)

    steps(3)
    save(3, "float16")
    steps(3)
    save(6, "fully_reshardable")
    torch.distributed.destroy_process_group()


def mkdir(*parts):
    d = os.path.join(*parts)
    os.makedirs(d)
    return d


if __name__ == "__main__":
    main()

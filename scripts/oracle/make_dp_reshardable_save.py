"""A Megatron-LM-style training iteration whose optimizer state is megatron-core 0.16.1's DistributedOptimizer
`dp_reshardable` format, made by megatron-core's own DDP + DistributedOptimizer on CPU (gloo, one rank).

    torchrun --nproc-per-node 1 make_dp_reshardable_save.py HF_CONFIG_JSON OUT_ITER_DIR [--swap-qk] [--rest CKPT_DIR]

What runs: megatron-core's GPTModel of the text model (local spec, `mcore_model.build_gpt`), cast to bf16, wrapped
in megatron-core's `DistributedDataParallel` (`use_distributed_optimizer`, fp32 grad buffers), optimizer from
`get_megatron_optimizer` (Adam, DistributedOptimizer), three steps on random tokens, then
`optimizer.sharded_state_dict(model_sd, metadata={'distrib_optim_sharding_type': 'dp_reshardable'})` and
`dist_checkpointing.save` of `{model, optimizer, iteration, checkpoint_version}` with that content_metadata,
as Megatron-LM's `save_checkpoint` saves. `--rest` adds the input checkpoint's other tensors (the vision tower)
unchanged, so the iteration is a whole Qwen3-VL checkpoint.

`--swap-qk` registers each layer's `k_layernorm` before `q_layernorm` (same names, same shapes): DDP lays its
buffer out in `named_parameters()` order, so the two saves differ only in which bucket slot holds which norm.

What stands in for CUDA (megatron-core's optimizer assumes it; none of it touches the saved layout):
`Tensor.type()` reports `torch.cuda.*Tensor` names (the DistributedOptimizer's dtype checks), `torch.tensor` /
`zeros` / `ones` / `empty` / `full` with `device='cuda'` allocate on the CPU (the loss-scale and overflow
scalars), grad clipping is off (`clip_grad=0`, its norm kernel is CUDA's), and `mcore_model.run_on_cpu` points
`torch.cuda.current_device()` (where DDP allocates its buffers) at the CPU.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Interop"))
from mcore_model import build_gpt, init  # noqa: E402
import torch  # noqa: E402


def optimizer_on_cpu():
    plain_type = torch.Tensor.type

    def cuda_named_type(self, *a, **k):
        if a or k:
            return plain_type(self, *a, **k)
        t = plain_type(self)
        return t if t.startswith("torch.cuda.") else t.replace("torch.", "torch.cuda.", 1)
    torch.Tensor.type = cuda_named_type

    def on_cpu(f):
        def g(*a, **k):
            if str(k.get("device", "")).startswith("cuda"):
                k["device"] = "cpu"
            return f(*a, **k)
        return g
    for name in ("tensor", "zeros", "ones", "empty", "full"):
        setattr(torch, name, on_cpu(getattr(torch, name)))


def main():
    cfg_path, out = sys.argv[1], sys.argv[2]
    swap = "--swap-qk" in sys.argv
    rest_ckpt = sys.argv[sys.argv.index("--rest") + 1] if "--rest" in sys.argv else None
    optimizer_on_cpu()
    init(1)
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedTensor
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer

    torch.manual_seed(0)  # the CPU initialisation draws from torch's generator: both orders start alike
    model, _, cfg, prefix = build_gpt(cfg_path, 1)
    if swap:
        for layer in model.decoder.layers:
            q = layer.self_attention._modules.pop("q_layernorm")
            layer.self_attention._modules["q_layernorm"] = q
    model.bfloat16()
    model.config.bf16 = True
    ddp = DistributedDataParallel(model.config, DistributedDataParallelConfig(use_distributed_optimizer=True, grad_reduce_in_fp32=True), model)
    opt = get_megatron_optimizer(OptimizerConfig(optimizer="adam", lr=1e-2, bf16=True, use_distributed_optimizer=True, clip_grad=0.0), [ddp])
    tc = cfg.get("text_config", cfg)
    torch.manual_seed(0)
    for _ in range(3):
        tokens = torch.randint(0, tc["vocab_size"], (2, 9))
        pos = torch.arange(8).unsqueeze(0).expand(2, 8)
        mask = torch.triu(torch.ones(8, 8), diagonal=1).bool().view(1, 1, 8, 8)
        ddp.zero_grad_buffer()
        opt.zero_grad()
        logits = ddp(tokens[:, :-1], pos, mask)
        torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1)).backward()
        ddp.finish_grad_sync()
        ok, _, _ = opt.step()
        assert ok
    model_sd = model.sharded_state_dict(prefix=prefix)
    if rest_ckpt:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint import FileSystemReader
        from torch.distributed.checkpoint.metadata import TensorStorageMetadata
        keys = {v.key for v in model_sd.values() if hasattr(v, "key")}
        md = FileSystemReader(rest_ckpt).read_metadata()
        rest = {k: torch.empty(list(m.size), dtype=m.properties.dtype) for k, m in md.state_dict_metadata.items()
                if isinstance(m, TensorStorageMetadata) and k not in keys}
        dcp.load(rest, storage_reader=FileSystemReader(rest_ckpt), no_dist=True)
        for k, t in rest.items():
            model_sd["rest." + k] = ShardedTensor.from_rank_offsets(k, t, replica_id=0)
    content = {"distrib_optim_sharding_type": "dp_reshardable"}
    state = {"model": model_sd, "optimizer": opt.sharded_state_dict(model_sd, metadata=content),
             "iteration": 3, "checkpoint_version": 3.0}
    os.makedirs(out)
    dist_checkpointing.save(state, out, content_metadata=content)
    with open(os.path.join(os.path.dirname(out), "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("3")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

"""Megatron FSDP `fsdp_dtensor` checkpoints of the tiny Qwen3-VL models, made by megatron-core 0.16.1's own
Megatron-FSDP on CPU (gloo, two ranks), for Fixtures/fsdp_dtensor/ (see Fixtures/README.md).

Run under torchrun with two processes:
    torchrun --nproc-per-node 2 scripts/oracle/make_fsdp_dtensor_fixtures.py BRIDGE_ITER_DIR HF_CONFIG OUT_ROOT

BRIDGE_ITER_DIR is Megatron-Bridge 0.3.1's torch_dist import of the same model (the oracle archive's
`qwen3_vl_*_tiny/bridge_tp1_ep1/megatron/iter_0000000`). What runs, in the order Megatron-LM's
`save_checkpoint` runs it for `--ckpt-format fsdp_dtensor`:
  - the text model is megatron-core's GPTModel (local layer spec), loaded from BRIDGE_ITER_DIR with
    `dist_checkpointing.load`; the vision tower (Megatron-Bridge 0.3.1's HF-named `vision_model.*`, which
    megatron-core has no module for) is a plain module tree holding those tensors under their names, so the
    whole model has Megatron-Bridge's Qwen3-VL parameter names;
  - `Float16Module` (bf16, as Megatron-LM / Megatron-Bridge wrap a bf16 run), then megatron-core's
    `FullyShardedDataParallel` adapter (Megatron-FSDP, `optim_grads_params`, TransformerLayer units) over the
    two ranks: every parameter becomes an uneven-sharded DTensor;
  - `state_dict_for_save_checkpoint()` of the adapter as `model`, with `checkpoint_version` and `iteration`;
  - megatron-core's `handle_fp8_extra_state_case`, `handle_swiglu_in_state_dict` (fc1 split into `_w`/`_v`
    from each rank's shard), `handle_experts_in_state_dict` (MoE), `preprocess_state_dict_for_uneven_dtensor`;
  - `torch.distributed.checkpoint.save` with a `FileSystemWriter`, as `save_checkpoint` does.
Megatron-FSDP allocates CUDA streams and calls `.cuda()` on bookkeeping tensors; those are pointed at the CPU
below (no effect on the saved tensors). The local layer spec names two norms differently from the TE spec a
GPU run uses; they are renamed with the spec's own `sharded_state_dict_keys_map` (megatron-core's
local→TE name map), so the keys are those of a TE run.
"""
import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Interop"))
import mcore_model as mm  # noqa: E402
import torch  # noqa: E402


class _NoStream:
    """Stands in for torch.cuda.Stream / Event on a CPU-only torch."""
    def __init__(self, *a, **k): pass
    def wait_stream(self, *a, **k): pass
    def wait_event(self, *a, **k): pass
    def synchronize(self, *a, **k): pass
    def record(self, *a, **k): pass
    def wait(self, *a, **k): pass
    def query(self): return True
    def record_event(self, *a, **k): return _NoStream()


def fsdp_on_cpu():
    torch.cuda.current_device = lambda: 0
    torch.cuda.Stream = _NoStream
    torch.cuda.Event = _NoStream
    torch.cuda.current_stream = lambda *a, **k: _NoStream()
    torch.cuda.stream = lambda *a, **k: contextlib.nullcontext()
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.cuda.set_rng_state = lambda *a, **k: None
    import megatron.core.distributed.fsdp.mcore_fsdp_adapter as adapter
    from torch.distributed import DeviceMesh

    class CPUMesh:
        """The adapter builds its meshes with device_type="cuda"; the same meshes on the CPU."""
        @staticmethod
        def from_group(*a, **k):
            k["device_type"] = "cpu"
            return DeviceMesh.from_group(*a, **k)
    adapter.DeviceMesh = CPUMesh


def module_tree(tensors):
    """A plain nn.Module whose parameters are `tensors` under their dotted names."""
    root = torch.nn.Module()
    for name, t in sorted(tensors.items()):
        *path, leaf = name.split(".")
        m = root
        for p in path:
            if not hasattr(m, p):
                m.add_module(p, torch.nn.Module())
            m = getattr(m, p)
        m.register_parameter(leaf, torch.nn.Parameter(t.clone()))
    return root


class Qwen3VLStandIn(torch.nn.Module):
    """Megatron-Bridge's Qwen3-VL module names: `language_model` (GPTModel) and `vision_model`."""
    def __init__(self, language_model, vision_model):
        super().__init__()
        self.language_model = language_model
        self.vision_model = vision_model
        self.config = language_model.config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bridge_iter")
    ap.add_argument("hf_config")
    ap.add_argument("out_root")
    ap.add_argument("--iteration", type=int, default=7)
    ap.add_argument("--load", help="instead of saving BRIDGE_ITER_DIR's weights: load this fsdp_dtensor iteration folder into "
                    "the FSDP model through the same preprocessing (strict DCP load), then save what was loaded into OUT_ROOT")
    a = ap.parse_args()
    rank, world = mm.init(1)
    fsdp_on_cpu()
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata
    from megatron.core.distributed import DistributedDataParallelConfig
    from megatron.core.distributed.fsdp.mcore_fsdp_adapter import FullyShardedDataParallel
    from megatron.core.distributed.fsdp.src.megatron_fsdp.uneven_dtensor import preprocess_state_dict_for_uneven_dtensor
    from megatron.core.transformer.fsdp_dtensor_checkpoint import (
        handle_experts_in_state_dict, handle_fp8_extra_state_case, handle_swiglu_in_state_dict)
    from megatron.core.transformer.module import Float16Module
    from megatron.core.transformer.transformer_layer import TransformerLayer

    gpt, spec, cfg, prefix = mm.build_gpt(a.hf_config, 1)
    if not a.load:
        mm.load_torch_dist(gpt, prefix, a.bridge_iter)
    md = FileSystemReader(a.bridge_iter).read_metadata()
    vision = {k: torch.empty(list(m.size), dtype=m.properties.dtype) for k, m in md.state_dict_metadata.items()
              if isinstance(m, TensorStorageMetadata) and k.startswith("vision_model.")}
    if a.load:
        # Zeros: a tensor the load does not reach stays zero, and differs from the checkpoint.
        vision = {k: torch.zeros_like(v) for k, v in vision.items()}
    else:
        dcp.load(vision, storage_reader=FileSystemReader(a.bridge_iter), no_dist=True)
    model = Qwen3VLStandIn(gpt, module_tree({k[len("vision_model."):]: v for k, v in vision.items()}))
    config = gpt.config
    config.bf16 = True
    wrapped = Float16Module(config, model)
    ddp = DistributedDataParallelConfig(use_megatron_fsdp=True, data_parallel_sharding_strategy="optim_grads_params",
                                        overlap_grad_reduce=False, overlap_param_gather=False)
    fsdp = FullyShardedDataParallel(config, ddp, wrapped, fsdp_unit_modules=[TransformerLayer], device=torch.device("cpu"))

    state = {"checkpoint_version": 3.0, "iteration": a.iteration, "model": fsdp.state_dict_for_save_checkpoint()}
    handle_fp8_extra_state_case(state["model"])
    # The adapter's state dict keys carry one `module.` (MegatronFSDP's; Float16Module's state_dict skips its
    # own level), its named_parameters three; the handlers resolve `get_parameter("module." + key)`, which holds
    # from MegatronFSDP down (the relationship megatron-core's test_mfsdp_fused_mla_checkpoint.py relies on).
    state["model"], _ = handle_swiglu_in_state_dict(fsdp.module, state["model"], None)
    experts = config.num_moe_experts
    if experts:
        state["model"] = handle_experts_in_state_dict(state["model"], experts)
    preprocess_state_dict_for_uneven_dtensor(state)
    # The local spec's norm names → the TE spec's (megatron-core's own map), as a GPU run names them.
    renames = dict(spec.submodules.sharded_state_dict_keys_map)

    def rename(k):
        for old, new in renames.items():
            if ".layers." in k and f".{old}" in k:
                k = k.replace(f".{old}", f".{new}", 1)
        return k
    model_sd = {rename(k): v for k, v in state["model"].items()}
    state["model"] = model_sd
    if a.load:
        # megatron-core's own load path for fsdp_dtensor (Megatron-LM's load_checkpoint / Megatron-Bridge's
        # load_fsdp_dtensor_checkpoint): the preprocessed state dict loaded with DCP's DefaultLoadPlanner, strict
        # (every key of the model must be in the checkpoint), into the DTensors that view the FSDP parameters.
        from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
        dcp.load(state, storage_reader=FileSystemReader(a.load), planner=DefaultLoadPlanner(allow_partial_load=False))
        # Saved again from the parameters themselves: a fresh state dict through the same preprocessing.
        fresh = {"checkpoint_version": state["checkpoint_version"], "iteration": state["iteration"],
                 "model": fsdp.state_dict_for_save_checkpoint()}
        handle_fp8_extra_state_case(fresh["model"])
        fresh["model"], _ = handle_swiglu_in_state_dict(fsdp.module, fresh["model"], None)
        if experts:
            fresh["model"] = handle_experts_in_state_dict(fresh["model"], experts)
        preprocess_state_dict_for_uneven_dtensor(fresh)
        fresh["model"] = {rename(k): v for k, v in fresh["model"].items()}
        state = fresh

    root = a.out_root
    it_dir = os.path.join(root, f"iter_{a.iteration:07d}")
    if rank == 0:
        os.makedirs(it_dir, exist_ok=True)
    torch.distributed.barrier()
    dcp.save(state, storage_writer=FileSystemWriter(it_dir))
    torch.distributed.barrier()
    if rank == 0:
        with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
            f.write(str(a.iteration))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

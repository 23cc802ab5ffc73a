"""LoRA fixtures made by Megatron-Bridge 0.3.1's own PEFT on CPU (Fixtures/lora/, see Fixtures/README.md).

Runs in the Megatron-Bridge venv (../shared/oracle/setup-bridge-venv.sh) with the CPU work-arounds of the
shared oracle (../shared/oracle/scripts/bridge_cpu.py, W1-W19; none touches how weights are mapped), and
L1 (below: peft.utils.HAVE_TE = False, since the TE stub is import-only):

  P=/work/venvs/bridge/venv-bridge/bin
  ORACLE_DIR=../shared/oracle $P/python scripts/oracle/make_lora_fixtures.py OUT
  ORACLE_DIR=../shared/oracle $P/torchrun --nproc-per-node 2 scripts/oracle/make_lora_fixtures.py OUT --tp 2

For the tiny dense Qwen3-VL (hf_v4, fp32) at the given TP it
  1. builds the Megatron model through AutoBridge (HF weights loaded),
  2. applies megatron.bridge.peft.lora.LoRA(dim=4, alpha=8) to linear_qkv, linear_proj, linear_fc1 and
     linear_fc2 of the language model, and fills every adapter weight (linear_in = A, linear_out = B, which LoRA
     initialises to zero) with seeded random values, different on each TP rank,
  3. saves, through Megatron-Bridge's own training save_checkpoint:
       OUT/tp<N>_full/     the whole model (base + adapter weights), cfg.peft unset (TP1 only: the bases of
                           all layouts are the same HF weights),
       OUT/tp<N>_adapter/  the adapter-only checkpoint a PEFT fine-tune writes (cfg.peft set: adapter
                           filter, run_config.yaml with the peft section),
  4. writes Megatron-Bridge's own HF exports of the same in-memory model:
       OUT/tp<N>_mb_merged.safetensors   save_hf_weights (merge_adapter_weights=True), only the tensors
                                         the adapters change (the others equal hf_v4),
       OUT/tp<N>_mb_adapter.safetensors  export_adapter_weights (its HF-PEFT-named adapter tensors),
       OUT/tp<N>_mb_logits.safetensors   its forward pass of the LoRA model (adapters active, not merged) on the
                                         reference text and image prompts (bridge_cpu.forward_logits).
"""
import argparse
import glob
import os
import re
import shutil
import sys
import zlib

ORACLE_DIR = os.path.abspath(os.environ.get("ORACLE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "oracle")))
sys.path.insert(0, os.path.join(ORACLE_DIR, "scripts"))
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

HF = os.path.join(ORACLE_DIR, "..", "fixtures", "qwen3_vl_dense_tiny", "hf_v4")
DIM, ALPHA = 4, 8


def save_checkpoint(model, path, peft):
    """megatron.bridge.training.model_load_save.save_megatron_model's ConfigContainer, plus cfg.peft."""
    from megatron.bridge.training.checkpointing import save_checkpoint as mb_save
    from megatron.bridge.training.config import CheckpointConfig, ConfigContainer, LoggerConfig, OptimizerConfig
    from megatron.bridge.training.state import GlobalState
    from megatron.core.utils import get_model_config as mc_cfg
    state = GlobalState()
    state.cfg = ConfigContainer(
        model=mc_cfg(model[0]), train=None, optimizer=OptimizerConfig(use_distributed_optimizer=False), ddp=None,
        scheduler=None, dataset=None, logger=LoggerConfig(), tokenizer=None, peft=peft,
        checkpoint=CheckpointConfig(async_save=False, save=str(path), save_optim=False, save_rng=False,
                                    ckpt_format="torch_dist", dist_ckpt_optim_fully_reshardable=True),
        dist=None)
    mb_save(state=state, model=model, optimizer=None, opt_param_scheduler=None, num_floating_point_operations_so_far=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tp", type=int, default=1)
    args = ap.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    out = os.path.abspath(args.out)

    import bridge_cpu
    AutoBridge = bridge_cpu.import_bridge()
    bridge_cpu.apply_cpu_patches()
    bridge_cpu.init_distributed(args.tp, 1)
    from megatron.bridge.peft.lora import LoRA
    from safetensors.torch import load_file, save_file
    import megatron.bridge.peft.utils as peft_utils
    # L1: with the TE import stub (W1) peft.utils believes TE is present and isinstance()s against its
    # placeholders; the local spec builds megatron-core's ColumnParallelLinear / RowParallelLinear, which is
    # the branch LoRA takes without TE.
    peft_utils.HAVE_TE = False
    bridge = AutoBridge.from_hf_pretrained(HF, torch_dtype=torch.float32)
    provider = bridge_cpu.make_provider(bridge, args.tp, 1, load_weights=True)
    model = provider.provide_distributed_model(wrap_with_ddp=False, use_cpu_initialization=True, mixed_precision_wrapper=None)
    # Language-model targets only: with the default bare names LoRA also wraps the HF-named vision tower's
    # nn.Linear modules (vision_model.blocks.*.mlp.linear_fc1: LinearAdapter, keys without '.adapter.'),
    # which Megatron-Bridge 0.3.1's own merge and adapter export then leave out.
    lora = LoRA(dim=DIM, alpha=ALPHA, target_modules=[f"*language_model.decoder.*.{m}" for m in
                                                       ("linear_qkv", "linear_proj", "linear_fc1", "linear_fc2")])
    model = lora(model, training=False)

    wrapped = []
    with torch.no_grad():
        for name, p in model[0].named_parameters():
            if ".adapter." not in name:
                continue
            wrapped.append(name)
            # TP-split weights get rank-specific values (so a shard-order bug cannot hide); replicated ones
            # the same on every rank (DCP saves one replica).
            split = getattr(p, "tensor_model_parallel", False)
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + (1000 * rank if split else 0))
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    if rank == 0:
        print(f"{len(wrapped)} adapter weights, e.g. {wrapped[:4]}", flush=True)

    os.makedirs(out, exist_ok=True)
    # Megatron-Bridge's own forward of the LoRA model (adapters active, unmerged), text and image prompts.
    ref = load_file(os.path.join(HF, "..", "reference.safetensors"))
    text = bridge_cpu.forward_logits(model[0], ref["text.input_ids"], ref["text.logits"].shape[-1])
    image = bridge_cpu.forward_logits(model[0], ref["image.input_ids"], ref["image.logits"].shape[-1], ref["image.pixel_values"],
                                      ref["image.image_grid_thw"], provider.image_token_id)
    if rank == 0:
        print("LoRA changes the logits by", (text - ref["text.logits"]).abs().max().item(), flush=True)
        save_file({"text.logits": text.contiguous(), "image.logits": image.contiguous()},
                  os.path.join(out, f"tp{args.tp}_mb_logits.safetensors"))

    def fresh(d):
        if rank == 0 and os.path.isdir(d):
            shutil.rmtree(d)
        torch.distributed.barrier()
        return d

    if args.tp == 1:
        save_checkpoint(model, fresh(os.path.join(out, f"tp{args.tp}_full")), None)
    save_checkpoint(model, fresh(os.path.join(out, f"tp{args.tp}_adapter")), lora)

    scratch = fresh(os.path.join(out, f".tmp_tp{args.tp}_merged"))
    bridge.save_hf_weights(model, scratch, show_progress=False, merge_adapter_weights=True)
    adapter = {n: t.contiguous().clone() for n, t in bridge.export_adapter_weights(model, cpu=True, show_progress=False)}
    if rank == 0:
        base = load_file(os.path.join(HF, "model.safetensors"))
        merged = {}
        for f in sorted(glob.glob(os.path.join(scratch, "*.safetensors"))):
            merged.update(load_file(f))
        assert sorted(merged) == sorted(base), "merged export has other tensors than hf_v4"
        changed = {k: v.contiguous() for k, v in merged.items() if not torch.equal(v, base[k])}
        targets = [k for k in base if re.search(r"language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$", k)]
        print(f"merged: {len(changed)} tensors changed, {len(targets)} LoRA targets; adapter export: {len(adapter)} tensors", flush=True)
        save_file(changed, os.path.join(out, f"tp{args.tp}_mb_merged.safetensors"))
        save_file(adapter, os.path.join(out, f"tp{args.tp}_mb_adapter.safetensors"))
        shutil.rmtree(scratch)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

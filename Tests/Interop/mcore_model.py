"""Shared by the megatron-core workers (run under torchrun, gloo, CPU): megatron-core's GPTModel for the text
model of a Qwen3-VL checkpoint, built from its HF config.json with the local layer spec and CPU
initialisation, the way Megatron-Bridge's provider configures it (RMSNorm, QK layernorm, SwiGLU, RoPE)."""
import json
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def run_on_cpu():
    """megatron-core assumes CUDA in a few places; point them at the CPU (no effect on checkpoint I/O)."""
    torch.cuda.current_device = lambda: "cpu"
    torch.cuda.synchronize = lambda *a, **k: None
    torch.cuda.get_rng_state = lambda *a, **k: torch.get_rng_state()
    import megatron.core.tensor_parallel.random as rnd
    rnd._get_cuda_rng_state = lambda *a, **k: torch.get_rng_state()
    rnd._set_cuda_rng_state = lambda *a, **k: None
    import megatron.core.transformer.moe.moe_utils as mu
    if not hasattr(mu, "te_general_gemm"):
        mu.te_general_gemm = None


def init(tp, ep=1):
    """Joins the torchrun process group and sets up megatron-core's parallel state; returns (rank, world)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    run_on_cpu()
    from megatron.core import parallel_state
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp, expert_model_parallel_size=ep)
    return rank, world


def build_gpt(cfg_path, tp, ep=1):
    """The GPTModel and its layer spec for config.json at `cfg_path`; returns (model, spec, cfg, prefix)."""
    from megatron.core import tensor_parallel
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer import TransformerConfig

    cfg = json.load(open(cfg_path))
    tc = cfg.get("text_config", cfg)
    experts = tc.get("num_experts", tc.get("num_local_experts"))
    moe = bool(experts)
    config = TransformerConfig(
        num_layers=tc["num_hidden_layers"], hidden_size=tc["hidden_size"], num_attention_heads=tc["num_attention_heads"],
        num_query_groups=tc["num_key_value_heads"], kv_channels=tc["head_dim"], ffn_hidden_size=tc["intermediate_size"],
        normalization="RMSNorm", layernorm_epsilon=tc["rms_norm_eps"], qk_layernorm=True, gated_linear_unit=True,
        activation_func=F.silu, add_bias_linear=False, add_qkv_bias=False, hidden_dropout=0.0, attention_dropout=0.0,
        tensor_model_parallel_size=tp, expert_model_parallel_size=ep, pipeline_model_parallel_size=1,
        use_cpu_initialization=True, params_dtype=torch.float32, bf16=False, bias_activation_fusion=False,
        masked_softmax_fusion=False, persist_layer_norm=False, bias_dropout_fusion=False, apply_rope_fusion=False,
        gradient_accumulation_fusion=False, sequence_parallel=False,
        **(dict(num_moe_experts=experts, moe_router_topk=tc["num_experts_per_tok"], moe_ffn_hidden_size=tc["moe_intermediate_size"],
                moe_router_pre_softmax=False, moe_router_score_function="softmax", moe_token_dispatcher_type="allgather",
                moe_grouped_gemm=False, moe_router_load_balancing_type="none", moe_permute_fusion=False) if moe else {}))
    spec = get_gpt_layer_local_spec(num_experts=experts if moe else None, moe_grouped_gemm=False, qk_layernorm=True,
                                    normalization="RMSNorm")
    if moe:
        # TE-spec MoE layers keep their pre-MLP norm as `pre_mlp_layernorm` (Megatron-Bridge's name); the local
        # spec would remap it to the dense `mlp.linear_fc1.layer_norm_weight`.
        keys = dict(spec.submodules.sharded_state_dict_keys_map)
        keys.pop("pre_mlp_layernorm.", None)
        spec.submodules.sharded_state_dict_keys_map = keys
    tensor_parallel.model_parallel_cuda_manual_seed(0)
    tied = bool(cfg.get("tie_word_embeddings", tc.get("tie_word_embeddings", False)))
    model = GPTModel(config=config, transformer_layer_spec=spec, vocab_size=tc["vocab_size"], max_sequence_length=4096,
                     position_embedding_type="rope", share_embeddings_and_output_weights=tied,
                     parallel_output=False, pre_process=True, post_process=True)
    prefix = "language_model." if "text_config" in cfg else ""
    return model, spec, cfg, prefix


def load_torch_dist(model, prefix, ckpt):
    """Loads a torch_dist checkpoint into the model with megatron-core's dist_checkpointing.load."""
    from megatron.core import dist_checkpointing
    state = dist_checkpointing.load(model.sharded_state_dict(prefix=prefix), ckpt)
    missing, _ = model.load_state_dict({k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}, strict=False)
    real_missing = [k for k in missing if not k.endswith("_extra_state")]
    assert not real_missing, f"parameters not loaded: {real_missing}"

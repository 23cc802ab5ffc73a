import TensorCore
import TorchFormats

/// The common state Megatron-LM reads from `common.pt`: `args` as an `argparse.Namespace` of primitives
/// only (so `torch.load(weights_only=True)` accepts it once Megatron registers Namespace), the checkpoint
/// version and the iteration.
///
/// `check_checkpoint_args` reads `num_layers`, `hidden_size` and `num_attention_heads` without defaults;
/// `--use-checkpoint-args` reads the rest with `getattr(..., None)`. The fields below are the ones a
/// Megatron-LM run of this model would set.
public enum MegatronArgs {
    /// - Parameter format: recorded as `ckpt_format` (`torch_dist`, or `torch` for legacy rank files, as
    ///   Megatron-LM names them).
    public static func commonState(context c: ModelContext, layout: ParallelLayout, dtype: DType, iteration: Int,
                                   format: MegatronFormat = .torchDist) -> PickleValue {
        let l = c.language
        var a: [(String, PickleValue)] = [
            ("num_layers", .int(l.numLayers)),
            ("hidden_size", .int(l.hiddenSize)),
            ("ffn_hidden_size", .int(l.ffnHiddenSize)),
            ("num_attention_heads", .int(l.numAttentionHeads)),
            ("num_query_groups", .int(l.numQueryGroups)),
            ("group_query_attention", .bool(l.numQueryGroups != l.numAttentionHeads)),
            ("kv_channels", .int(l.kvChannels)),
            ("max_position_embeddings", .int(l.seqLength)),
            ("seq_length", .int(l.seqLength)),
            ("position_embedding_type", .string(c.vision != nil ? "mrope" : "rope")),
            ("rotary_base", .int(Int(l.rotaryBase))),
            ("rotary_percent", .float(1.0)),
            ("swiglu", .bool(true)),
            ("normalization", .string("RMSNorm")),
            ("norm_epsilon", .float(l.layernormEpsilon)),
            ("qk_layernorm", .bool(true)),
            ("add_bias_linear", .bool(false)),
            ("add_qkv_bias", .bool(l.addQKVBias)),
            ("untie_embeddings_and_output_weights", .bool(!l.shareEmbeddingsAndOutputWeights)),
            ("vocab_size", .int(l.vocabSize)),
            ("padded_vocab_size", .int(c.paddedVocab)),
            ("make_vocab_size_divisible_by", .int(ParallelLayout.vocabDivisor)),
            ("tokenizer_type", .string("HuggingFaceTokenizer")),
            ("tensor_model_parallel_size", .int(layout.tp)),
            ("pipeline_model_parallel_size", .int(layout.pp)),
            ("expert_model_parallel_size", .int(layout.ep)),
            ("expert_tensor_parallel_size", .int(layout.etp)),
            ("decoder_first_pipeline_num_layers", layout.firstStageLayers.map { .int($0) } ?? .none),
            ("decoder_last_pipeline_num_layers", layout.lastStageLayers.map { .int($0) } ?? .none),
            ("bf16", .bool(dtype == .bf16)),
            ("fp16", .bool(dtype == .f16)),
            ("params_dtype", .global(module: "torch", name: HFConfigWriter.torchDTypeName(dtype))),
            ("ckpt_format", .string(format == .legacy ? "torch" : "torch_dist")),
            ("no_save_optim", .bool(true)),
            ("no_save_rng", .bool(true)),
            ("iteration", .int(iteration)),
        ]
        if let r = l.mropeSection { a.append(("mrope_section", .list(r.map { .int($0) }))) }
        if l.isMoE {
            a += [
                ("num_experts", .int(l.numMoeExperts ?? 0)),
                ("moe_ffn_hidden_size", .int(l.moeFfnHiddenSize ?? 0)),
                ("moe_router_topk", .int(l.moeRouterTopk ?? 1)),
                ("moe_router_load_balancing_type", .string("aux_loss")),
                ("moe_aux_loss_coeff", .float(l.moeAuxLossCoeff ?? 1e-3)),
                ("moe_router_pre_softmax", .bool(false)),
                ("moe_router_score_function", .string("softmax")),
                ("moe_grouped_gemm", .bool(true)),
                ("moe_token_dispatcher_type", .string("alltoall")),
                // Megatron's per-layer pattern: 1 = MoE, 0 = dense.
                ("moe_layer_freq", .list((0..<l.numLayers).map { .int(l.isMoELayer($0) ? 1 : 0) })),
            ]
        } else {
            a.append(("num_experts", .none))
        }
        let namespace = PickleValue.object(PickleObject(module: "argparse", name: "Namespace", construction: .newObj,
                                                        state: .dict(a.map { (.string($0.0), $0.1) })))
        let content: PickleValue = .dict([
            (.string("distrib_optim_sharding_type"), .string("dp_reshardable")),
            (.string("singleton_local_shards"), .bool(false)),
            (.string("chained_optim_avoid_prefix"), .bool(true)),
        ])
        return .dict([
            (.string("args"), namespace),
            (.string("checkpoint_version"), .float(3.0)),
            (.string("iteration"), .int(iteration)),
            (.string("content_metadata"), content),
        ])
    }
}

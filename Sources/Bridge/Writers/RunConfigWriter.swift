import TensorCore

/// Writes the `run_config.yaml` Megatron-Bridge reads to rebuild a model from a checkpoint: a
/// `ConfigContainer` whose `model` is the family's provider with its fields, including the HF text and
/// vision configs as `from_dict` calls, and a `checkpoint` section describing the save.
///
/// Nested values are written in JSON flow style, which is valid YAML and keeps every number as written.
public enum RunConfigWriter {
    public static func yaml(context c: ModelContext, layout: ParallelLayout, dtype: DType) -> String {
        let l = c.language
        var model: [(String, String)] = [
            ("_target_", c.table.provider),
            ("num_layers", "\(l.numLayers)"),
            ("hidden_size", "\(l.hiddenSize)"),
            ("ffn_hidden_size", "\(l.ffnHiddenSize)"),
            ("num_attention_heads", "\(l.numAttentionHeads)"),
            ("num_query_groups", "\(l.numQueryGroups)"),
            ("kv_channels", "\(l.kvChannels)"),
            ("head_dim", "\(l.kvChannels)"),
            ("vocab_size", "\(l.vocabSize)"),
            ("seq_length", "\(l.seqLength)"),
            ("layernorm_epsilon", number(l.layernormEpsilon)),
            ("normalization", "RMSNorm"),
            ("gated_linear_unit", "true"),
            ("add_bias_linear", "false"),
            ("add_qkv_bias", l.addQKVBias ? "true" : "false"),
            ("qk_layernorm", "true"),
            ("hidden_dropout", "0.0"),
            ("attention_dropout", number(l.attentionDropout)),
            ("share_embeddings_and_output_weights", l.shareEmbeddingsAndOutputWeights ? "true" : "false"),
            ("rotary_base", number(l.rotaryBase)),
            ("make_vocab_size_divisible_by", "\(l.makeVocabSizeDivisibleBy)"),
            ("should_pad_vocab", layout.padVocab ? "true" : "false"),
            ("tensor_model_parallel_size", "\(layout.tp)"),
            ("pipeline_model_parallel_size", "\(layout.pp)"),
            ("expert_model_parallel_size", "\(layout.ep)"),
            ("expert_tensor_parallel_size", "\(layout.etp)"),
            ("num_layers_in_first_pipeline_stage", layout.firstStageLayers.map(String.init) ?? "null"),
            ("num_layers_in_last_pipeline_stage", layout.lastStageLayers.map(String.init) ?? "null"),
            ("bf16", dtype == .bf16 ? "true" : "false"),
            ("fp16", dtype == .f16 ? "true" : "false"),
        ]
        if c.vision != nil {
            model.append(("position_embedding_type", "mrope"))
            model.append(("mrope_section", JSONWriter.write(.ints(l.mropeSection ?? [24, 20, 20]), pretty: false)))
            for (k, v) in [("bos_token_id", l.bosTokenId), ("eos_token_id", l.eosTokenId), ("vision_start_token_id", l.visionStartTokenId),
                           ("vision_end_token_id", l.visionEndTokenId), ("image_token_id", l.imageTokenId), ("video_token_id", l.videoTokenId)] {
                if let v { model.append((k, "\(v)")) }
            }
        }
        if l.isMoE {
            model += [
                ("num_moe_experts", "\(l.numMoeExperts ?? 0)"),
                ("moe_ffn_hidden_size", "\(l.moeFfnHiddenSize ?? 0)"),
                ("moe_router_topk", "\(l.moeRouterTopk ?? 1)"),
                ("moe_grouped_gemm", "true"),
                ("moe_router_load_balancing_type", "aux_loss"),
                ("moe_aux_loss_coeff", number(l.moeAuxLossCoeff ?? 1e-3)),
                ("moe_router_pre_softmax", "false"),
                ("moe_router_score_function", "softmax"),
                ("moe_token_dispatcher_type", "alltoall"),
                ("decoder_sparse_step", "\(l.decoderSparseStep)"),
                ("mlp_only_layers", JSONWriter.write(.ints(l.mlpOnlyLayers), pretty: false)),
            ]
        }
        var out = "_target_: megatron.bridge.training.config.ConfigContainer\n"
        out += "# Written by ckpt-bridge. The model section is what Megatron-Bridge needs to rebuild the model.\n"
        out += "checkpoint:\n  _target_: megatron.bridge.training.config.CheckpointConfig\n  ckpt_format: torch_dist\n"
        out += "  save_optim: false\n  save_rng: false\n  fully_parallel_save: true\n  dist_ckpt_strictness: assume_ok_unexpected\n"
        out += "model:\n"
        for (k, v) in model { out += "  \(k): \(v)\n" }
        let text = c.hfConfig.section(c.table.textSection) ?? .object([])
        if c.vision != nil {
            out += "  hf_text_config:\n    _call_: true\n    _target_: \(configClass(c, "TextConfig")).from_dict\n"
            out += "    config_dict: \(JSONWriter.write(text, pretty: false))\n"
            if let vs = c.table.visionSection, let v = c.hfConfig.section(vs) {
                out += "  vision_config:\n    _call_: true\n    _target_: \(configClass(c, "VisionConfig")).from_dict\n"
                out += "    config_dict: \(JSONWriter.write(v, pretty: false))\n"
            }
        }
        return out
    }

    /// `transformers.models.qwen3_vl_moe.configuration_qwen3_vl_moe.Qwen3VLMoeTextConfig` style names.
    private static func configClass(_ c: ModelContext, _ suffix: String) -> String {
        let arch = c.table.architectures.first ?? "Model"
        let base = arch.replacingOccurrences(of: "ForConditionalGeneration", with: "").replacingOccurrences(of: "ForCausalLM", with: "")
        let module = c.hfConfig.modelType ?? c.table.family
        return "transformers.models.\(module).configuration_\(module).\(base)\(suffix)"
    }

    private static func number(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(format: "%.1f", d) }
        return "\(d)"
    }
}

import Foundation

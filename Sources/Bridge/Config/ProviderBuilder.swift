/// Builds Megatron providers from an HF config, the way Megatron-Bridge's `provider_bridge` does:
/// `num_query_groups ← num_key_value_heads`, `kv_channels ← head_dim`, `moe_ffn_hidden_size ←
/// moe_intermediate_size` (kept apart from `ffn_hidden_size`), `share_embeddings_and_output_weights ←`
/// the top-level `tie_word_embeddings`, rotary base from `rope_theta` or `rope_parameters`, `mrope_section`
/// defaulting to [24, 20, 20], `make_vocab_size_divisible_by` the largest power of two ≤ 128 dividing the vocab.
public enum ProviderBuilder {
    public static func language(_ c: HFConfig, section s: String) throws -> LanguageProvider {
        let hidden = try c.int(s, "hidden_size")
        let heads = try c.int(s, "num_attention_heads")
        guard heads > 0 else { throw c.bad(s, "num_attention_heads", "positive") }
        let vocab = try c.int(s, "vocab_size")
        let rope = c.ropeSection(s)
        let theta = try c.optionalDouble(s, "rope_theta") ?? rope?["rope_theta"]?.doubleValue ?? 5_000_000
        let mrope = rope?["mrope_section"]?.arrayValue?.compactMap(\.intValue)
        let tie = try c.optionalBool("", "tie_word_embeddings") ?? c.optionalBool(s, "tie_word_embeddings") ?? false
        var divisible = 128
        while divisible > 1 && vocab % divisible != 0 { divisible /= 2 }
        let dtype = c.optionalString("", "torch_dtype") ?? c.optionalString("", "dtype") ?? c.optionalString(s, "dtype")
        return LanguageProvider(
            numLayers: try c.int(s, "num_hidden_layers"),
            hiddenSize: hidden,
            ffnHiddenSize: try c.optionalInt(s, "intermediate_size") ?? 0,
            numAttentionHeads: heads,
            numQueryGroups: try c.optionalInt(s, "num_key_value_heads") ?? heads,
            kvChannels: try c.optionalInt(s, "head_dim") ?? hidden / heads,
            vocabSize: vocab,
            seqLength: try c.optionalInt(s, "max_position_embeddings") ?? 2048,
            layernormEpsilon: try c.optionalDouble(s, "rms_norm_eps") ?? 1e-6,
            initMethodStd: try c.optionalDouble(s, "initializer_range"),
            attentionDropout: try c.optionalDouble(s, "attention_dropout") ?? 0,
            shareEmbeddingsAndOutputWeights: tie,
            addQKVBias: try c.optionalBool(s, "attention_bias") ?? false,
            rotaryBase: theta,
            mropeSection: c.section("vision_config") != nil ? (mrope ?? [24, 20, 20]) : mrope,
            mropeInterleaved: rope?["mrope_interleaved"]?.boolValue ?? false,
            hiddenAct: c.optionalString(s, "hidden_act") ?? "silu",
            makeVocabSizeDivisibleBy: divisible,
            numMoeExperts: try c.firstInt(s, ["num_experts", "num_local_experts"]),
            moeRouterTopk: try c.optionalInt(s, "num_experts_per_tok"),
            moeFfnHiddenSize: try c.optionalInt(s, "moe_intermediate_size"),
            moeAuxLossCoeff: try c.optionalDouble(s, "router_aux_loss_coef"),
            normTopkProb: try c.optionalBool(s, "norm_topk_prob"),
            decoderSparseStep: try c.optionalInt(s, "decoder_sparse_step") ?? 1,
            mlpOnlyLayers: try c.optionalInts(s, "mlp_only_layers") ?? [],
            bosTokenId: try c.optionalInt(s, "bos_token_id") ?? c.optionalInt("", "bos_token_id"),
            eosTokenId: try c.optionalInt(s, "eos_token_id") ?? c.optionalInt("", "eos_token_id"),
            visionStartTokenId: try c.optionalInt("", "vision_start_token_id"),
            visionEndTokenId: try c.optionalInt("", "vision_end_token_id"),
            imageTokenId: try c.optionalInt("", "image_token_id"),
            videoTokenId: try c.optionalInt("", "video_token_id"),
            paramsDtype: dtype)
    }

    public static func vision(_ c: HFConfig, section s: String) throws -> VisionProvider {
        VisionProvider(
            depth: try c.int(s, "depth"),
            hiddenSize: try c.int(s, "hidden_size"),
            intermediateSize: try c.int(s, "intermediate_size"),
            numHeads: try c.int(s, "num_heads"),
            outHiddenSize: try c.int(s, "out_hidden_size"),
            patchSize: try c.optionalInt(s, "patch_size") ?? 16,
            temporalPatchSize: try c.optionalInt(s, "temporal_patch_size") ?? 2,
            spatialMergeSize: try c.optionalInt(s, "spatial_merge_size") ?? 2,
            inChannels: try c.optionalInt(s, "in_channels") ?? 3,
            numPositionEmbeddings: try c.optionalInt(s, "num_position_embeddings") ?? 2304,
            deepstackVisualIndexes: try c.optionalInts(s, "deepstack_visual_indexes") ?? [8, 16, 24],
            hiddenAct: c.optionalString(s, "hidden_act") ?? "gelu_pytorch_tanh")
    }
}

/// The numbers shape expressions in mapping tables may use (`[heads*head_dim, hidden]`).
public struct ShapeSymbols {
    public var values: [String: Int]

    public init(language l: LanguageProvider, vision v: VisionProvider?, paddedVocab: Int) {
        var s: [String: Int] = [
            "hidden": l.hiddenSize, "heads": l.numAttentionHeads, "groups": l.numQueryGroups, "head_dim": l.kvChannels,
            "ffn": l.ffnHiddenSize, "vocab": l.vocabSize, "padded_vocab": paddedVocab, "layers": l.numLayers,
            "experts": l.numMoeExperts ?? 0, "moe_ffn": l.moeFfnHiddenSize ?? 0,
        ]
        if let v {
            s["v_hidden"] = v.hiddenSize
            s["v_heads"] = v.numHeads
            s["v_head_dim"] = v.headDim
            s["v_ffn"] = v.intermediateSize
            s["v_out"] = v.outHiddenSize
            s["v_merged"] = v.mergedHiddenSize
            s["v_patch"] = v.patchSize
            s["v_temporal_patch"] = v.temporalPatchSize
            s["v_in_channels"] = v.inChannels
            s["v_positions"] = v.numPositionEmbeddings
            s["v_depth"] = v.depth
            s["deepstack"] = v.deepstackVisualIndexes.count
        }
        values = s
    }

    /// Evaluates `a*b+c` style expressions over symbols and integer literals.
    public func evaluate(_ expr: String, table: String) throws -> Int {
        var total = 0
        for term in expr.split(separator: "+") {
            var product = 1
            for factor in term.split(separator: "*") {
                let f = factor.trimmingCharacters(in: .whitespaces)
                if let n = Int(f) { product *= n } else if let v = values[f] { product *= v } else {
                    throw BridgeError(.mappingTable, "unknown shape symbol '\(f)' in '\(expr)'", file: table,
                                      hint: "known symbols: \(values.keys.sorted().joined(separator: ", "))")
                }
            }
            total += product
        }
        return total
    }
}

import Foundation

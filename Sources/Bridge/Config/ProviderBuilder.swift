import ModelSpec
import TensorCore

/// Builds Megatron providers from an HF config, the way Megatron-Bridge's `provider_bridge` does:
/// `num_query_groups ← num_key_value_heads`, `kv_channels ← head_dim`, `moe_ffn_hidden_size ←
/// moe_intermediate_size` (kept apart from `ffn_hidden_size`), `share_embeddings_and_output_weights ←`
/// the top-level `tie_word_embeddings`, rotary base from `rope_theta` or `rope_parameters`, `mrope_section`
/// defaulting to [24, 20, 20], `make_vocab_size_divisible_by` the largest power of two ≤ 128 dividing the vocab.
///
/// The config is first validated by `ModelSpec` (ranges, caps and cross-field rules), the same validation
/// the forward pass runs, so every command accepts and refuses the same configs.
public enum ProviderBuilder {
    /// Validates a config for a family: the spec of its text and vision sections, and a `model_type`
    /// (when present) naming the family the table was chosen for.
    public static func spec(_ c: HFConfig, table: MappingTable) throws -> ModelSpec {
        let s = try spec(c, textSection: table.textSection, visionSection: table.visionSection)
        if let t = s.modelType, t != table.family {
            throw BridgeError(.config, "config field model_type is '\(t)' but the architecture \(table.architectures.first ?? "") is \(table.family)",
                              file: c.path, key: "model_type", hint: "the config.json's model_type and architectures must name the same family")
        }
        if let vs = table.visionSection, s.vision == nil {
            throw BridgeError(.config, "config field \(vs) is missing", file: c.path, key: vs,
                              hint: "the config.json does not describe a model of this family")
        }
        return s
    }

    /// Validates a config's text section (and its vision section, when present).
    public static func spec(_ c: HFConfig, textSection: String, visionSection: String? = "vision_config") throws -> ModelSpec {
        do {
            return try ModelSpec(json: c.json, textSection: textSection, visionSection: visionSection, file: c.path)
        } catch let e as ModelSpecError {
            throw BridgeError(.config, e.summary, file: e.file ?? c.path, key: e.key, byteOffset: e.byteOffset, hint: e.hint, underlying: e)
        }
    }

    public static func language(_ c: HFConfig, section s: String) throws -> LanguageProvider {
        language(try spec(c, textSection: s))
    }

    public static func vision(_ c: HFConfig, section s: String) throws -> VisionProvider {
        guard let v = try spec(c, textSection: c.section("text_config") != nil ? "text_config" : "", visionSection: s).vision else {
            throw BridgeError(.config, "config field \(s) is missing", file: c.path, key: s)
        }
        return vision(v)
    }

    public static func language(_ spec: ModelSpec) -> LanguageProvider {
        let t = spec.text
        var divisible = ParallelLayout.vocabDivisor
        while divisible > 1 && t.vocabSize % divisible != 0 { divisible /= 2 }
        return LanguageProvider(
            numLayers: t.numLayers,
            hiddenSize: t.hiddenSize,
            ffnHiddenSize: t.intermediateSize,
            numAttentionHeads: t.numAttentionHeads,
            numQueryGroups: t.numKeyValueHeads,
            kvChannels: t.headDim,
            vocabSize: t.vocabSize,
            seqLength: t.maxPositionEmbeddings,
            layernormEpsilon: t.rmsNormEps,
            initMethodStd: t.initializerRange,
            attentionDropout: t.attentionDropout,
            shareEmbeddingsAndOutputWeights: spec.tieWordEmbeddings,
            addQKVBias: t.attentionBias,
            rotaryBase: t.ropeTheta,
            mropeSection: t.mropeSection,
            mropeInterleaved: t.mropeInterleaved,
            hiddenAct: t.hiddenAct,
            makeVocabSizeDivisibleBy: divisible,
            numMoeExperts: t.declaredExperts,
            moeRouterTopk: t.moe?.topK ?? t.declaredTopK,
            moeFfnHiddenSize: t.declaredMoEIntermediateSize,
            moeAuxLossCoeff: t.routerAuxLossCoef,
            normTopkProb: t.moe?.normTopKProb,
            decoderSparseStep: t.moe?.decoderSparseStep ?? 1,
            mlpOnlyLayers: t.moe?.mlpOnlyLayers ?? [],
            bosTokenId: t.bosTokenId,
            eosTokenId: t.eosTokenId,
            visionStartTokenId: spec.visionStartTokenId,
            visionEndTokenId: spec.visionEndTokenId,
            imageTokenId: spec.imageTokenId,
            videoTokenId: spec.videoTokenId,
            paramsDtype: spec.dtype)
    }

    public static func vision(_ v: VisionSpec) -> VisionProvider { v }
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
                guard let n = Int(f) ?? values[f] else {
                    throw BridgeError(.mappingTable, "unknown shape symbol '\(f)' in '\(expr)'", file: table,
                                      hint: "known symbols: \(values.keys.sorted().joined(separator: ", "))")
                }
                let (p, overflow) = product.multipliedReportingOverflow(by: n)
                guard !overflow else { throw BridgeError(.config, "shape '\(expr)' overflows 64-bit arithmetic", file: table) }
                product = p
            }
            let (t, overflow) = total.addingReportingOverflow(product)
            guard !overflow else { throw BridgeError(.config, "shape '\(expr)' overflows 64-bit arithmetic", file: table) }
            total = t
        }
        return total
    }
}

import Foundation

import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Property tests for the region transforms over random head counts, groups and sizes: the Megatron regions
/// tile the Megatron tensor, the HF regions of each role tile that HF tensor (so the correspondence is a
/// bijection and export's reading of the same list is the exact inverse), and composing HF → Megatron → HF
/// with real data returns every element.
@Suite struct TransformPropertyTests {
    struct Draw: CustomStringConvertible {
        var heads: Int, groups: Int, headDim: Int, hidden: Int, ffn: Int, vocab: Int, padded: Int
        var visionHeads: Int, visionHeadDim: Int, experts: Int
        var description: String {
            "heads \(heads) groups \(groups) hd \(headDim) hidden \(hidden) ffn \(ffn) vocab \(vocab)→\(padded) vision \(visionHeads)×\(visionHeadDim) experts \(experts)"
        }
    }

    static func draw(_ seed: UInt64) -> Draw {
        var g = SeededGenerator(seed: seed)
        let groups = Int.random(in: 1...4, using: &g)
        let heads = groups * Int.random(in: 1...4, using: &g)
        let vocab = Int.random(in: 3...40, using: &g)
        return Draw(heads: heads, groups: groups, headDim: 2 * Int.random(in: 1...3, using: &g), hidden: Int.random(in: 1...6, using: &g),
                    ffn: Int.random(in: 1...6, using: &g), vocab: vocab, padded: vocab + Int.random(in: 0...9, using: &g),
                    visionHeads: Int.random(in: 1...4, using: &g), visionHeadDim: 4 * Int.random(in: 1...2, using: &g),
                    experts: Int.random(in: 1...4, using: &g))
    }

    static func context(_ d: Draw, expert: Int? = nil, orientation: FusedOrientation? = nil) throws -> TransformContext {
        let json = """
        {"architectures": ["Qwen3VLForConditionalGeneration"], "text_config": {"hidden_size": \(d.hidden),
          "num_attention_heads": \(d.heads), "num_key_value_heads": \(d.groups), "head_dim": \(d.headDim),
          "intermediate_size": \(d.ffn), "num_hidden_layers": 1, "vocab_size": \(d.vocab), "rms_norm_eps": 1e-6,
          "max_position_embeddings": 64, "rope_scaling": {"mrope_section": [\(d.headDim / 2), 0, 0]}},
         "vision_config": {"depth": 1, "hidden_size": \(d.visionHeads * d.visionHeadDim), "intermediate_size": 4,
          "num_heads": \(d.visionHeads), "out_hidden_size": \(d.hidden), "patch_size": 2, "temporal_patch_size": 2,
          "spatial_merge_size": 2, "in_channels": 3, "num_position_embeddings": 4, "deepstack_visual_indexes": []}}
        """
        let cfg = try HFConfig(json: try JSONParser.parse(json))
        return TransformContext(language: try ProviderBuilder.language(cfg, section: "text_config"),
                                vision: try ProviderBuilder.vision(cfg, section: "vision_config"),
                                paddedVocab: d.padded, expertIndex: expert, orientation: orientation)
    }

    /// Every transform with the HF shapes a draw gives it.
    static func cases(_ d: Draw) throws -> [(TransformKind, [String: [Int]], TransformContext)] {
        let c = try context(d)
        let qRows = d.heads * d.headDim, kvRows = d.groups * d.headDim, vh = d.visionHeads * d.visionHeadDim
        var out: [(TransformKind, [String: [Int]], TransformContext)] = [
            (.copy, ["": [d.hidden, d.ffn]], c),
            (.qkv, ["q": [qRows, d.hidden], "k": [kvRows, d.hidden], "v": [kvRows, d.hidden]], c),
            (.qkv, ["q": [qRows], "k": [kvRows], "v": [kvRows]], c),                       // biases
            (.visionQKV, ["": [3 * vh, vh]], c),
            (.visionQKV, ["": [3 * vh]], c),
            (.gateUp, ["gate": [d.ffn, d.hidden], "up": [d.ffn, d.hidden]], c),
            (.vocab, ["": [d.vocab, d.hidden]], c),
        ]
        for e in 0..<d.experts {
            for o in [FusedOrientation.hub, .v5] {
                let ec = try context(d, expert: e, orientation: o)
                let gateUp = o == .hub ? [d.experts, d.hidden, 2 * d.ffn] : [d.experts, 2 * d.ffn, d.hidden]
                let down = o == .hub ? [d.experts, d.ffn, d.hidden] : [d.experts, d.hidden, d.ffn]
                out.append((.fusedExpertGateUp, ["": gateUp], ec))
                out.append((.fusedExpertDown, ["": down], ec))
            }
        }
        return out
    }

    @Test(arguments: Array(UInt64(1)...60)) func regionsAreABijection(seed: UInt64) throws {
        let d = Self.draw(seed)
        for (kind, shapes, c) in try Self.cases(d) {
            let t = try Transforms.apply(kind, hfShapes: shapes, context: c)
            #expect(tilingProblem(of: t.parts.map(\.megatronBox) + t.zeroBoxes, covering: t.megatronShape) == nil, "\(kind) \(d)")
            if kind == .fusedExpertGateUp || kind == .fusedExpertDown {
                // One expert's slice of the fused tensor: its HF region is exactly that expert.
                let s = shapes[""]!
                #expect(t.parts.map(\.hfBox) == [Box(offsets: [c.expertIndex!, 0, 0], sizes: [1, s[1], s[2]])], "\(kind) \(d)")
                continue
            }
            for (role, shape) in shapes {
                let boxes = t.parts.filter { $0.role == role }.map(\.hfBox)
                #expect(tilingProblem(of: boxes, covering: shape) == nil, "\(kind) role '\(role)' \(d)")
            }
        }
    }

    /// HF tensors of distinct values composed into the Megatron tensor, and that read back through the
    /// inverse correspondences, give every HF element back; the padding rows are zero.
    @Test(arguments: Array(UInt64(100)...140)) func composeAndInvertRoundTrip(seed: UInt64) throws {
        let d = Self.draw(seed)
        var next: Float = 1
        for (kind, shapes, c) in try Self.cases(d) {
            let t = try Transforms.apply(kind, hfShapes: shapes, context: c)
            var sources = [String: ContiguousTensor]()
            for (role, shape) in shapes.sorted(by: { $0.key < $1.key }) {
                let n = shape.reduce(1, *)
                sources[role] = floatTensor(shape, (0..<n).map { Float($0) + next })
                next += Float(n)
            }
            let megatron = ComposedTensor(dtype: .f32, shape: t.megatronShape, parts: t.parts.map {
                .init(box: $0.megatronBox, source: sources[$0.role], sourceOrigin: $0.hfOrigin, axisMap: $0.axisMap)
            } + t.zeroBoxes.map { .zeros($0) })
            try megatron.validate(name: "\(kind)")
            let flat = floatTensor(t.megatronShape, try megatron.readFloats())
            for z in t.zeroBoxes { #expect(try flat.readFloats(z).allSatisfy { $0 == 0 }) }
            for (role, source) in sources {
                let parts = t.parts.filter { $0.role == role }
                let back = ComposedTensor(dtype: .f32, shape: source.shape, parts: parts.map {
                    .init(box: $0.hfBox, source: flat, sourceOrigin: $0.megatronBox.offsets, axisMap: $0.inverseAxisMap)
                })
                if kind == .fusedExpertGateUp || kind == .fusedExpertDown {
                    let b = parts[0].hfBox
                    let inverse = ComposedTensor(dtype: .f32, shape: b.sizes, parts: parts.map {
                        .init(box: Box(shape: b.sizes), source: flat, sourceOrigin: $0.megatronBox.offsets, axisMap: $0.inverseAxisMap)
                    })
                    #expect(try inverse.readFloats() == (try source.readFloats(b)), "\(kind) \(d)")
                    continue
                }
                #expect(try back.readFloats() == (try source.readFloats()), "\(kind) role '\(role)' \(d)")
            }
        }
    }
}

private func floatTensor(_ shape: [Int], _ values: [Float]) -> ContiguousTensor {
    let buf = FloatBuffer(values)
    return buf.values.withUnsafeBytes { ContiguousTensor(dtype: .f32, shape: shape, base: $0.baseAddress, owner: buf) }
}

import TensorCore

/// What a transform needs to know beyond the HF shapes.
public struct TransformContext {
    public var language: LanguageProvider
    public var vision: VisionProvider?
    /// Rows of the Megatron embedding / output layer (≥ the HF vocab).
    public var paddedVocab: Int
    /// For fused-expert transforms: which expert this parameter is.
    public var expertIndex: Int?
    /// For fused-expert transforms: how the HF tensor is laid out.
    public var orientation: FusedOrientation?
}

/// The transforms, each as a list of corresponding regions. Row-major tensors with the split or
/// interleaved axis first, so every region is a run of whole rows (cheap byte moves), except the fused
/// expert transposes, which the strided copy does in cache-sized tiles.
public enum Transforms {
    public static func apply(_ kind: TransformKind, hfShapes: [String: [Int]], context c: TransformContext) throws -> TransformOutput {
        switch kind {
        case .copy:
            let s = try shape("", hfShapes)
            return TransformOutput(megatronShape: s, parts: [identity(Box(shape: s), role: "", origin: zeros(s.count))], zeroBoxes: [])

        case .qkv:
            let q = try shape("q", hfShapes), k = try shape("k", hfShapes), v = try shape("v", hfShapes)
            let nh = c.language.numAttentionHeads, ng = c.language.numQueryGroups, hd = c.language.kvChannels
            guard ng > 0, nh % ng == 0 else {
                throw BridgeError(.config, "num_attention_heads \(nh) is not a multiple of num_key_value_heads \(ng)")
            }
            let rest = Array(q.dropFirst())
            guard q[0] == nh * hd, k[0] == ng * hd, v[0] == ng * hd, Array(k.dropFirst()) == rest, Array(v.dropFirst()) == rest else {
                throw BridgeError(.shape, "q/k/v shapes \(Shape.describe(q)), \(Shape.describe(k)), \(Shape.describe(v)) do not fit \(nh) heads, \(ng) groups of \(hd)")
            }
            let hpg = nh / ng
            var parts = [Correspondence]()
            for g in 0..<ng {
                let base = g * (hpg + 2) * hd
                parts.append(rows(base, hpg * hd, rest, role: "q", from: g * hpg * hd))
                parts.append(rows(base + hpg * hd, hd, rest, role: "k", from: g * hd))
                parts.append(rows(base + (hpg + 1) * hd, hd, rest, role: "v", from: g * hd))
            }
            return TransformOutput(megatronShape: [(nh + 2 * ng) * hd] + rest, parts: parts, zeroBoxes: [])

        case .visionQKV:
            let s = try shape("", hfShapes)
            guard let vis = c.vision else { throw BridgeError(.config, "vision-qkv needs a vision config") }
            let heads = vis.numHeads, hd = vis.headDim, hv = vis.hiddenSize
            guard s[0] == 3 * hv, heads * hd == hv else {
                throw BridgeError(.shape, "vision qkv \(Shape.describe(s)) does not fit \(heads) heads of \(hd)")
            }
            let rest = Array(s.dropFirst())
            var parts = [Correspondence]()
            for h in 0..<heads {
                for part in 0..<3 {
                    parts.append(rows((3 * h + part) * hd, hd, rest, role: "", from: part * hv + h * hd))
                }
            }
            return TransformOutput(megatronShape: s, parts: parts, zeroBoxes: [])

        case .gateUp:
            let g = try shape("gate", hfShapes), u = try shape("up", hfShapes)
            guard g == u else { throw BridgeError(.shape, "gate \(Shape.describe(g)) and up \(Shape.describe(u)) differ") }
            let rest = Array(g.dropFirst())
            return TransformOutput(megatronShape: [2 * g[0]] + rest,
                                   parts: [rows(0, g[0], rest, role: "gate", from: 0), rows(g[0], g[0], rest, role: "up", from: 0)],
                                   zeroBoxes: [])

        case .fusedExpertGateUp, .fusedExpertDown:
            let s = try shape("", hfShapes)
            guard s.count == 3, let e = c.expertIndex, e < s[0], let o = c.orientation else {
                throw BridgeError(.shape, "fused expert tensor \(Shape.describe(s)) needs rank 3 and an expert index")
            }
            // Megatron keeps each expert as an nn.Linear weight [out, in]. Transformers-5 stores the same
            // orientation; the hub stores the transpose (x @ W). Axis 0 of Megatron is the output axis.
            let outAxis = o == .v5 ? 1 : 2, inAxis = o == .v5 ? 2 : 1
            let mShape = [s[outAxis], s[inAxis]]
            let part = Correspondence(megatronBox: Box(shape: mShape), role: "", hfOrigin: [e, 0, 0], axisMap: [outAxis, inAxis])
            return TransformOutput(megatronShape: mShape, parts: [part], zeroBoxes: [])

        case .vocab:
            let s = try shape("", hfShapes)
            guard c.paddedVocab >= s[0] else {
                throw BridgeError(.shape, "vocab of \(s[0]) rows does not fit the padded vocab \(c.paddedVocab)")
            }
            let rest = Array(s.dropFirst())
            let m = [c.paddedVocab] + rest
            var zero = [Box]()
            if c.paddedVocab > s[0] {
                zero.append(Box(offsets: zeros(m.count), sizes: m).narrowed(axis: 0, offset: s[0], size: c.paddedVocab - s[0]))
            }
            return TransformOutput(megatronShape: m, parts: [rows(0, s[0], rest, role: "", from: 0)], zeroBoxes: zero)
        }
    }

    private static func shape(_ role: String, _ shapes: [String: [Int]]) throws -> [Int] {
        guard let s = shapes[role], !s.isEmpty else {
            throw BridgeError(.mappingTable, "transform needs an HF source with role '\(role)' of rank ≥ 1")
        }
        return s
    }

    private static func zeros(_ n: Int) -> [Int] { [Int](repeating: 0, count: n) }

    private static func identity(_ box: Box, role: String, origin: [Int]) -> Correspondence {
        Correspondence(megatronBox: box, role: role, hfOrigin: origin, axisMap: Array(0..<box.rank))
    }

    /// `count` whole rows at Megatron row `start` are HF rows `from ..< from+count`.
    private static func rows(_ start: Int, _ count: Int, _ rest: [Int], role: String, from: Int) -> Correspondence {
        let box = Box(offsets: [start] + zeros(rest.count), sizes: [count] + rest)
        return Correspondence(megatronBox: box, role: role, hfOrigin: [from] + zeros(rest.count), axisMap: Array(0..<box.rank))
    }
}

import TensorCore
import TorchFormats

/// A legacy Megatron checkpoint (one `model_optim_rng.pt` per rank) seen as global tensors under global
/// module names, merged with Megatron's own parallel semantics. Written from Megatron-Core's module
/// definitions, not from the converter's mapping tables or its rank arithmetic, so that `verify` of a
/// legacy checkpoint checks the converter's legacy writer and reader instead of mirroring them:
///
/// - tensor parallel: ColumnParallelLinear and VocabParallelEmbedding split axis 0 (`linear_qkv`,
///   `linear_fc1` weights and biases, `word_embeddings`, `output_layer`); RowParallelLinear splits the
///   weight's axis 1 and keeps its bias whole (`linear_proj`, `linear_fc2`); a SwiGLU `linear_fc1` of the
///   language model holds [gate_r; up_r] on rank r; everything else (norms, router, patch embedding) is
///   replicated and must have the same shape on every TP rank;
/// - pipeline parallel: layer indices are local to each stage, offset by the layers the earlier stages
///   hold (counted from the rank files themselves);
/// - expert parallel: TEGroupedMLP's `linear_fc{1,2}.weight<e>` on EP rank r are the global experts
///   r·E_local + e, split over expert TP (`expert_tensor_parallel_size` from the args, else TP) like the
///   dense linears; what is not an expert is the same on every EP rank;
/// - Megatron-Bridge 0.3's vision tower (`vision_model.blocks.*`, the HF module) is not parallel at all.
public final class LegacyMegatronStore: TensorStore {
    public let tensorNames: [String]
    public let origin: String?
    private let tensors: [String: TensorSource]

    private struct Grid {
        var tp: Int, pp: Int, ep: Int, etp: Int
    }

    public init(checkpoint: LegacyMegatronCheckpoint) throws {
        origin = checkpoint.directory
        let ranks = checkpoint.ranks
        guard let first = ranks.first else {
            throw ForwardError(.config, "the legacy checkpoint has no rank files", file: checkpoint.directory)
        }
        let grid = Grid(tp: (ranks.map(\.tp).max() ?? 0) + 1, pp: (ranks.map(\.pp).max() ?? 0) + 1,
                        ep: (ranks.map(\.ep).max() ?? 0) + 1,
                        etp: try checkpoint.file(first).args?["expert_tensor_parallel_size"]?.intValue ?? (ranks.map(\.tp).max() ?? 0) + 1)
        guard ranks.count == grid.tp * grid.pp * grid.ep, grid.etp >= 1, grid.tp % grid.etp == 0 else {
            throw ForwardError(.config, "rank folders do not form a TP×PP×EP grid (\(ranks.count) folders for TP \(grid.tp), PP \(grid.pp), EP \(grid.ep), ETP \(grid.etp))",
                               file: checkpoint.directory, hint: "a rank folder is missing or extra")
        }
        var dicts = [LegacyRank: TorchStateDict]()
        for r in ranks { dicts[r] = try checkpoint.file(r).model() }
        func dict(_ tp: Int, _ pp: Int, _ ep: Int) throws -> TorchStateDict {
            guard let d = dicts[LegacyRank(tp: tp, pp: pp, ep: ep)] else {
                throw ForwardError(.config, "no rank file for tp \(tp) pp \(pp) ep \(ep)", file: checkpoint.directory)
            }
            return d
        }
        func path(_ tp: Int, _ pp: Int, _ ep: Int) -> String? { try? checkpoint.path(of: LegacyRank(tp: tp, pp: pp, ep: ep)) }

        // Megatron-Bridge 0.3 keeps the HF vision module (`vision_model.blocks.*`), which is not parallel.
        let hfVision = try dict(0, 0, 0).tensors.keys.contains { $0.hasPrefix("vision_model.blocks.") }
        var out = [String: TensorSource]()
        var layerOffset = 0
        for pp in 0..<grid.pp {
            let stageLayers = Set(try dict(0, pp, 0).tensors.keys.compactMap { Self.textLayer(of: $0)?.index })
            for ep in 0..<grid.ep {
                let names = try dict(0, pp, ep).tensors.keys.sorted()
                for tp in 1..<max(grid.tp, 1) where Set(try dict(tp, pp, ep).tensors.keys) != Set(names) {
                    throw ForwardError(.badWeight, "rank files of one stage hold different tensors", file: path(tp, pp, ep),
                                       hint: "every TP rank of a stage holds the same module names")
                }
                // Dense parameters are the same on every EP rank: read them from EP rank 0.
                let dense = Set(names.filter { Self.expertIndex(of: $0) == nil })
                if ep > 0, dense != Set(try dict(0, pp, 0).tensors.keys.filter { Self.expertIndex(of: $0) == nil }) {
                    throw ForwardError(.badWeight, "EP rank \(ep) holds other dense tensors than EP rank 0", file: path(0, pp, ep),
                                       hint: "every EP rank of a stage holds the same dense modules")
                }
                let localExperts = Self.localExpertCount(names)
                for name in names {
                    let expert = Self.expertIndex(of: name)
                    if expert == nil && ep > 0 { continue }
                    var global = name
                    if let (l, range) = Self.textLayer(of: name) { global.replaceSubrange(range, with: String(l + layerOffset)) }
                    if let (e, range) = expert {
                        let perLayer = localExperts[Self.textLayer(of: name)?.index ?? -1] ?? 0
                        global = String(global.dropLast(name.distance(from: range.lowerBound, to: name.endIndex))) + String(ep * perLayer + e)
                    }
                    guard out[global] == nil else {
                        throw ForwardError(.badWeight, "'\(global)' is held by two pipeline stages", file: path(0, pp, ep), key: name)
                    }
                    let ways = expert == nil ? grid.tp : grid.etp
                    var shards = [TensorSource]()
                    for t in 0..<ways { shards.append(try dict(t, pp, ep).tensors[name]!) }
                    out[global] = try Self.merge(shards, name: name, kind: hfVision && name.hasPrefix("vision_model.") ? .replicated : Self.kind(of: name), file: path(0, pp, ep))
                }
            }
            layerOffset += stageLayers.count
        }
        tensors = out
        tensorNames = out.keys.sorted()
    }

    public func tensorSource(_ name: String) throws -> TensorSource {
        guard let t = tensors[name] else { throw ForwardError(.missingWeight, "no such tensor", file: origin, key: name) }
        return t
    }

    // MARK: Megatron's module semantics

    enum Kind { case replicated, column, gatedColumn, row }

    /// What a module's parameter is to tensor parallelism, from its module path and leaf name.
    static func kind(of name: String) -> Kind {
        if name.hasPrefix("vision_model.") && !name.hasPrefix("vision_model.decoder.") && !name.hasPrefix("vision_model.merger.") {
            return .replicated   // patch/position embeddings, and the HF vision module of Megatron-Bridge 0.3
        }
        let parts = name.split(separator: ".")
        guard parts.count >= 2 else { return .replicated }
        let module = parts[parts.count - 2], leaf = parts[parts.count - 1]
        let isWeight = leaf.hasPrefix("weight"), isBias = leaf.hasPrefix("bias")
        switch module {
        case "linear_qkv" where isWeight || isBias: return .column
        case "linear_fc1" where isWeight || isBias:
            return name.hasPrefix("language_model.") ? .gatedColumn : .column
        case "linear_proj", "linear_fc2": return isWeight ? .row : .replicated
        case "word_embeddings", "output_layer": return isWeight ? .column : .replicated
        default: return .replicated
        }
    }

    /// Merges the TP (or expert-TP) shards of one parameter, rank order, into the global tensor.
    static func merge(_ shards: [TensorSource], name: String, kind: Kind, file: String?) throws -> TensorSource {
        let s0 = shards[0]
        for s in shards where s.shape != s0.shape || s.dtype != s0.dtype {
            throw ForwardError(.badWeight, "TP shards of one parameter differ in shape or dtype: \(Shape.describe(s.shape)) vs \(Shape.describe(s0.shape))",
                               file: file, key: name)
        }
        let n = shards.count
        if n == 1 || kind == .replicated { return s0 }
        let axis = kind == .row ? 1 : 0
        guard s0.shape.count > axis else {
            throw ForwardError(.badWeight, "a \(kind) parallel parameter of rank \(s0.shape.count)", file: file, key: name)
        }
        var global = s0.shape
        global[axis] *= n
        let identity = Array(0..<s0.shape.count).map { Optional($0) }
        let zeros = [Int](repeating: 0, count: s0.shape.count)
        var parts = [ComposedTensor.Part]()
        if kind == .gatedColumn {
            // Rank r holds [gate_r; up_r]; the global tensor is [gate_0 … gate_{n-1}; up_0 … up_{n-1}].
            guard s0.shape[0] % 2 == 0 else {
                throw ForwardError(.badWeight, "a SwiGLU fc1 shard with an odd row count \(s0.shape[0])", file: file, key: name)
            }
            let half = s0.shape[0] / 2
            for (r, s) in shards.enumerated() {
                for (k, base) in [(0, 0), (1, n * half)] {
                    var sizes = s0.shape
                    sizes[0] = half
                    var offsets = zeros
                    offsets[0] = base + r * half
                    var origin = zeros
                    origin[0] = k * half
                    parts.append(ComposedTensor.Part(box: Box(offsets: offsets, sizes: sizes), source: s, sourceOrigin: origin, axisMap: identity))
                }
            }
        } else {
            for (r, s) in shards.enumerated() {
                var offsets = zeros
                offsets[axis] = r * s0.shape[axis]
                parts.append(ComposedTensor.Part(box: Box(offsets: offsets, sizes: s0.shape), source: s, sourceOrigin: zeros, axisMap: identity))
            }
        }
        let t = ComposedTensor(dtype: s0.dtype, shape: global, parts: parts)
        try t.validate(name: name)
        return t
    }

    // MARK: names

    static let layersPrefix = "language_model.decoder.layers."

    /// The local text-layer index in a name and where it stands.
    static func textLayer(of name: String) -> (index: Int, range: Range<String.Index>)? {
        guard name.hasPrefix(layersPrefix) else { return nil }
        let start = name.index(name.startIndex, offsetBy: layersPrefix.count)
        guard let end = name[start...].firstIndex(of: "."), let i = Int(name[start..<end]) else { return nil }
        return (i, start..<end)
    }

    /// TEGroupedMLP's local expert index: the digits after `weight` / `bias` of `mlp.experts.linear_fc{1,2}`.
    static func expertIndex(of name: String) -> (index: Int, range: Range<String.Index>)? {
        guard name.contains(".mlp.experts.linear_fc") else { return nil }
        for leaf in ["weight", "bias"] {
            guard let r = name.range(of: "." + leaf, options: .backwards) else { continue }
            let digits = name[r.upperBound...]
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), let e = Int(digits) { return (e, r.upperBound..<name.endIndex) }
        }
        return nil
    }

    /// Local experts per text layer of one rank file (the fc1 weights it holds).
    static func localExpertCount(_ names: [String]) -> [Int: Int] {
        var count = [Int: Int]()
        for n in names where n.contains(".mlp.experts.linear_fc1.weight") && expertIndex(of: n) != nil {
            count[textLayer(of: n)?.index ?? -1, default: 0] += 1
        }
        return count
    }

}

import TensorCore
import TorchFormats

/// Reassembles Megatron parameters from a legacy checkpoint's per-rank files. The layout (TP, PP, EP,
/// ETP, uneven stages) comes from the `args` the files carry and must agree with the rank folders; each
/// parameter is put together from the local shards of the ranks that hold it, by the same sharding rules
/// import writes with.
public final class LegacyParameterReader: MegatronParameterReader {
    public let checkpoint: LegacyMegatronCheckpoint
    public let layout: ParallelLayout
    private let table: MappingTable
    private let hfConfig: HFConfig
    private var dicts = [LegacyRank: TorchStateDict]()
    private var rankPlacement: RankPlacement?

    public var path: String { checkpoint.directory }

    public init(checkpoint: LegacyMegatronCheckpoint, hfConfig: HFConfig, table: MappingTable) throws {
        self.checkpoint = checkpoint
        self.table = table
        self.hfConfig = hfConfig
        guard let first = checkpoint.ranks.first else {
            throw BridgeError(.unknownFormat, "no rank files", file: checkpoint.directory)
        }
        let args = try BridgeError.during("cannot read the args of legacy rank \(first)", file: checkpoint.directory) {
            try checkpoint.file(first).args
        }
        func arg(_ k: String) -> Int? { args?[k]?.intValue }
        let tp = arg("tensor_model_parallel_size") ?? (checkpoint.ranks.map(\.tp).max() ?? 0) + 1
        let pp = arg("pipeline_model_parallel_size") ?? (checkpoint.ranks.map(\.pp).max() ?? 0) + 1
        let ep = arg("expert_model_parallel_size") ?? (checkpoint.ranks.map(\.ep).max() ?? 0) + 1
        layout = ParallelLayout(tp: tp, pp: pp, ep: ep, etp: arg("expert_tensor_parallel_size") ?? tp,
                                firstStageLayers: arg("decoder_first_pipeline_num_layers"),
                                lastStageLayers: arg("decoder_last_pipeline_num_layers"))
        let expected = Set((0..<pp).flatMap { p in (0..<ep).flatMap { e in (0..<tp).map { LegacyRank(tp: $0, pp: p, ep: e) } } })
        guard Set(checkpoint.ranks) == expected else {
            throw BridgeError(.layout, "rank folders do not match TP \(tp), PP \(pp), EP \(ep) from the checkpoint's args",
                              file: checkpoint.directory, hint: "a rank folder is missing or extra")
        }
    }

    private func dict(_ r: LegacyRank) throws -> TorchStateDict {
        if let d = dicts[r] { return d }
        let d = try BridgeError.during("cannot read the model state of legacy rank \(r)", file: checkpoint.directory) {
            try checkpoint.file(r).model()
        }
        dicts[r] = d
        return d
    }

    public var storedTensorNames: [String] {
        get throws {
            try checkpoint.ranks.flatMap { r in
                let d = try dict(r)
                return d.order.filter { d.tensors[$0] != nil }.map { "\(r)/\($0)" }
            }
        }
    }

    /// The checkpoint's layout applied to the model's layer and expert counts (from the provider).
    private func placement() throws -> RankPlacement {
        if let rankPlacement { return rankPlacement }
        let language = ProviderBuilder.language(try ProviderBuilder.spec(hfConfig, table: table))
        let r = try RankPlacement(layout: layout, language: language)
        rankPlacement = r
        return r
    }

    /// The vocabulary is split over TP: TP rank 0 of the parameter's stage holds `rows / TP` of it.
    public func vocabularyRows(of p: MegatronParameter) throws -> Int? {
        let local = try dict(LegacyRank(tp: 0, pp: try placement().stage(of: p), ep: 0)).tensors[p.name]
        return local.map { $0.shape[0] * layout.tp }
    }

    public func visionLayout(candidates: [(VisionLayout, [MegatronParameter])]) throws -> VisionLayout? {
        // Each parameter is looked for on TP rank 0 of its own stage (the vision tower's is the first).
        let r = try placement()
        var names = [Int: Set<String>]()
        func stored(_ p: MegatronParameter) throws -> Bool {
            let stage = r.stage(of: p)
            if names[stage] == nil { names[stage] = Set(try dict(LegacyRank(tp: 0, pp: stage, ep: 0)).order) }
            return names[stage]!.contains(p.name)
        }
        var matching = [VisionLayout]()
        for (layout, ps) in candidates {
            let specific = ps.filter { $0.rule.layout != nil }
            if try !specific.isEmpty && specific.allSatisfy(stored) { matching.append(layout) }
        }
        if candidates.allSatisfy({ $0.1.allSatisfy { $0.rule.layout == nil } }) { return nil }
        guard matching.count == 1 else {
            throw BridgeError(.missingKeys, "the checkpoint's vision tower matches \(matching.isEmpty ? "no known layout" : "several layouts")",
                              file: checkpoint.directory)
        }
        return matching[0]
    }

    /// Where a parameter lives in the rank files: its local name and the ranks holding shards of it.
    private func placement(of p: MegatronParameter) throws -> (name: String, ranks: [(LegacyRank, [Shard])]) {
        let placement = try placement()
        let name = try LocalShards.localName(p, placement: placement)
        var ranks = [(LegacyRank, [Shard])]()
        for r in checkpoint.ranks {
            let shards = try placement.shards(of: p, heldBy: (r.tp, r.pp, r.ep))
            if !shards.isEmpty { ranks.append((r, shards)) }
        }
        return (name, ranks)
    }

    public func storedNames(of p: MegatronParameter) throws -> [String] {
        let (name, ranks) = try placement(of: p)
        return ranks.map { "\($0.0)/\(name)" }
    }

    public func source(of p: MegatronParameter, dtype: DType?) throws -> TensorSource {
        let (name, ranks) = try placement(of: p)
        var parts = [ComposedTensor.Part]()
        var seen = Set<Box>()
        var type: DType?
        for (r, shards) in ranks {
            guard let t = try dict(r).tensors[name] else {
                throw BridgeError(.missingKeys, "rank file lacks '\(name)'", file: try checkpoint.path(of: r), key: name,
                                  hint: "the checkpoint is incomplete or of another model")
            }
            let want = LocalShards.localShape(shards)
            guard t.shape == want else {
                throw BridgeError(.shape, "local shape \(Shape.describe(t.shape)) does not match \(Shape.describe(want)) for this layout",
                                  file: try checkpoint.path(of: r), key: name)
            }
            type = type ?? t.dtype
            // Copies of the same shard on other ranks (replicated parameters on every TP rank, dense
            // parameters on every EP rank) are accounted for but read from the first rank that has them.
            var row = 0
            for s in shards {
                if seen.insert(s.box).inserted {
                    parts.append(ComposedTensor.Part(box: s.box, source: t, sourceOrigin: [row] + [Int](repeating: 0, count: s.box.rank - 1),
                                                     axisMap: (0..<s.box.rank).map { $0 }))
                }
                row += s.box.sizes[0]
            }
        }
        let composed = ComposedTensor(dtype: dtype ?? type ?? .f32, shape: p.shape, parts: parts)
        try composed.validate(name: p.name)
        return composed
    }
}

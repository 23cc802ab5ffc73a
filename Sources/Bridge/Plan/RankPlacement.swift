import TensorCore

/// Where Megatron parameters live at one parallel layout: the pipeline stage of each, the expert-parallel
/// rank that owns an expert, the global rank that writes a shard or an `_extra_state`, the shards each
/// model-parallel rank holds, and the indices a rank's modules use. Every ownership question (torch_dist
/// chunks, legacy rank files, the C ABI's rank reader) is answered here and nowhere else.
///
/// Only what depends on ranks is here; `ModelContext` holds what the table and config say. Import plans
/// with a placement and the legacy reader reassembles with one; export needs none, since it reads each
/// parameter whole.
public struct RankPlacement {
    public let layout: ParallelLayout
    /// The text layers of each pipeline stage.
    public let stageLayers: [Range<Int>]
    /// Routed experts per MoE layer (0 for a dense model).
    public let numExperts: Int

    public init(layout: ParallelLayout, numLayers: Int, numExperts: Int?) throws {
        self.layout = layout
        stageLayers = try layout.stageLayers(numLayers: numLayers)
        self.numExperts = numExperts ?? 0
    }

    public init(layout: ParallelLayout, language: LanguageProvider) throws {
        try self.init(layout: layout, numLayers: language.numLayers, numExperts: language.numMoeExperts)
    }

    /// Experts per expert-parallel rank.
    public var expertsPerRank: Int { max(1, max(numExperts, 1) / layout.ep) }

    /// The expert-parallel rank that owns a global expert.
    public func epRank(ofExpert e: Int) -> Int { e / expertsPerRank }

    /// The global rank that writes a shard: within its stage, the TP rank for dense parameters, and for an
    /// expert `etp + ETP·ep` (Megatron's default rank order).
    public func globalRank(stage: Int, shardRank: Int, expert: Int?) -> Int {
        stage * layout.ranksPerStage + (expert.map { shardRank + layout.etp * epRank(ofExpert: $0) } ?? shardRank)
    }

    /// The global rank that writes shard `s` of `p` in a torch_dist checkpoint (the chunk's main replica).
    public func writer(of p: MegatronParameter, shard s: Shard) -> Int {
        globalRank(stage: stage(of: p), shardRank: s.rank, expert: p.parallel.isExpert ? p.expert : nil)
    }

    /// The global rank that writes an `_extra_state` object: TP (ETP) rank 0 of the ranks that own it.
    public func writer(of x: ExtraStateObject) -> Int {
        globalRank(stage: stage(of: x), shardRank: 0, expert: x.expert)
    }

    /// The ways a parameter is split: ETP for an expert, TP for the rest.
    public func ways(of p: MegatronParameter) -> Int { p.parallel.isExpert ? layout.etp : layout.tp }

    /// Every shard of `p` at this layout, each tagged with the TP (ETP) rank it belongs to.
    public func shards(of p: MegatronParameter) throws -> [Shard] {
        try Sharding.shards(shape: p.shape, kind: p.parallel, gated: p.gated, ways: ways(of: p), name: p.name)
    }

    /// Whether model-parallel rank (·, pp, ep) holds the modules of `stage` and, for an expert's, of `expert`.
    public func holds(stage s: Int, expert: Int?, pp: Int, ep: Int) -> Bool {
        s == pp && (expert.map { epRank(ofExpert: $0) == ep } ?? true)
    }

    /// Whether rank (·, pp, ep) holds an `_extra_state` object (TE saves one per linear, on every TP rank).
    public func holds(_ x: ExtraStateObject, pp: Int, ep: Int) -> Bool {
        holds(stage: stage(of: x), expert: x.expert, pp: pp, ep: ep)
    }

    /// The shards of `p` that rank (tp, pp, ep) holds, in local order; empty when it holds none.
    /// Replicated parameters are on every TP rank; an expert is on its EP rank, split over ETP (TP rank
    /// `tp` holds ETP shard `tp % ETP`). The legacy file plan, the legacy reader and the C ABI's rank
    /// reader all ask this; torch_dist chunks are owned by `writer(of:shard:)` over the same `shards(of:)`.
    public func shards(of p: MegatronParameter, heldBy rank: (tp: Int, pp: Int, ep: Int)) throws -> [Shard] {
        if p.parallel.isExpert && p.expert == nil { return [] }
        guard holds(stage: stage(of: p), expert: p.parallel.isExpert ? p.expert : nil, pp: rank.pp, ep: rank.ep) else { return [] }
        let all = try shards(of: p)
        if p.parallel.isExpert { return all.filter { $0.rank == rank.tp % layout.etp } }
        if all.count == 1 && all[0].box == Box(shape: p.shape) { return all }
        return all.filter { $0.rank == rank.tp }
    }

    /// The pipeline stage of a text layer.
    public func stage(ofLayer layer: Int) -> Int {
        stageLayers.firstIndex { $0.contains(layer) } ?? 0
    }

    /// Per-layer entries live on their layer's stage; others on the first or last stage, as the table says.
    public func stage(over: [IndexDomain], indices: [Int], placement: PipelineStagePlacement) -> Int {
        if let i = over.firstIndex(where: { $0 == .textLayers || $0 == .denseLayers || $0 == .moeLayers }) {
            return stage(ofLayer: indices[i])
        }
        return placement == .last ? layout.pp - 1 : 0
    }

    public func stage(of p: MegatronParameter) -> Int { stage(over: p.rule.over, indices: p.indices, placement: p.rule.stage) }
    public func stage(of x: ExtraStateObject) -> Int { stage(over: x.rule.over, indices: x.indices, placement: x.rule.stage) }

    /// Indices as the rank's modules see them: layers local to their stage, experts local to their EP rank.
    public func localIndices(_ idx: [Int], over: [IndexDomain]) -> [Int] {
        zip(idx, over).map { i, d in
            switch d {
            case .textLayers, .denseLayers, .moeLayers: return i - stageLayers[stage(ofLayer: i)].lowerBound
            case .experts: return i % expertsPerRank
            default: return i
            }
        }
    }
}

/// Where Megatron parameters live at one parallel layout: the pipeline stage of each, the expert-parallel
/// rank that owns an expert, the global rank that writes a shard, and the indices a rank's modules use.
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

import TensorCore

/// What one legacy rank file (`mp_rank_XX[_YYY[_ZZZ]]`) holds of a parameter: its shards, stacked along
/// axis 0 (a gated fc1 shard pair becomes the rank's [gate_r; up_r]), under the name with layer and expert
/// indices made local to the pipeline stage and the expert-parallel rank.
public enum LocalShards {
    /// The shards of `p` that rank (tp, pp, ep) holds, in local order; empty when it holds none.
    /// Replicated parameters are on every TP rank; an expert is on its EP rank, split over ETP.
    public static func shards(of p: MegatronParameter, rank: (tp: Int, pp: Int, ep: Int), placement r: RankPlacement) throws -> [Shard] {
        guard r.stage(of: p) == rank.pp else { return [] }
        let l = r.layout
        if p.parallel.isExpert {
            guard let e = p.expert, r.epRank(ofExpert: e) == rank.ep else { return [] }
            let all = try Sharding.shards(shape: p.shape, kind: p.parallel, gated: p.gated, ways: l.etp, name: p.name)
            return all.filter { $0.rank == rank.tp % l.etp }
        }
        let all = try Sharding.shards(shape: p.shape, kind: p.parallel, gated: p.gated, ways: l.tp, name: p.name)
        if all.count == 1 && all[0].box == Box(shape: p.shape) { return all }
        return all.filter { $0.rank == rank.tp }
    }

    /// The shape of the local tensor built from `shards`.
    public static func localShape(_ shards: [Shard]) -> [Int] {
        var s = shards[0].box.sizes
        s[0] = shards.reduce(0) { $0 + $1.box.sizes[0] }
        return s
    }

    /// The parameter's name as the rank's module sees it: layer indices local to the stage, expert
    /// indices local to the EP rank.
    public static func localName(_ p: MegatronParameter, placement r: RankPlacement) throws -> String {
        guard !p.rule.megatron.hasSuffix else { return p.name }
        return try p.rule.megatron.render(r.localIndices(p.indices, over: p.rule.over).map(String.init))
    }
}

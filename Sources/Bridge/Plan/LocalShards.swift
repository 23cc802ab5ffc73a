import TensorCore

/// How one rank (a legacy rank file `mp_rank_XX[_YYY[_ZZZ]]`, or the C ABI's rank reader) sees the shards
/// of a parameter it holds (which those are is `RankPlacement.shards(of:heldBy:)`): stacked along axis 0
/// (a gated fc1 shard pair becomes the rank's [gate_r; up_r]), under the name with layer and expert
/// indices made local to the pipeline stage and the expert-parallel rank.
public enum LocalShards {
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

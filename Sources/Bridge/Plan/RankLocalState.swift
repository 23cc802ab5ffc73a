import TensorCore

/// One tensor of one Megatron rank: its name as the rank's modules see it (layer indices local to the
/// pipeline stage, expert indices local to the expert-parallel rank), and its local shards as one lazy
/// tensor (a gated fc1 shard pair stacked as the rank's [gate_r; up_r]), in the plan's target dtype.
public struct RankLocalTensor {
    public var name: String
    /// The index of the parameter in `ImportPlan.parameters`.
    public var parameter: Int
    public var source: ComposedTensor
}

extension ImportPlan {
    /// The tensors rank (tp, pp, ep) holds, in plan order: exactly what the legacy writer puts in that
    /// rank's `model_optim_rng.pt` under "model" (it is built from this), and what the rank's
    /// `model.load_state_dict` takes. Nothing is read: each tensor's bytes are read when the caller reads it.
    ///
    /// - Parameter sources: `parameterSource(i)` for every parameter, when the caller already built them.
    public func rankLocalTensors(rank: (tp: Int, pp: Int, ep: Int), sources: [ComposedTensor]? = nil) throws -> [RankLocalTensor] {
        let l = request.layout
        for (name, r, size) in [("tp", rank.tp, l.tp), ("pp", rank.pp, l.pp), ("ep", rank.ep, l.ep)] where r < 0 || r >= size {
            throw BridgeError(.request, "\(name) rank \(r) is outside the layout \(l) (0..<\(size))",
                              hint: "pass a rank below the \(name) size")
        }
        var out = [RankLocalTensor]()
        for (i, p) in parameters.enumerated() {
            let shards = try LocalShards.shards(of: p, rank: rank, context: context)
            if shards.isEmpty { continue }
            let source = try sources?[i] ?? parameterSource(i)
            out.append(RankLocalTensor(name: try LocalShards.localName(p, context: context), parameter: i,
                                       source: try ImportPipeline.localTensor(source, shards: shards)))
        }
        return out
    }
}

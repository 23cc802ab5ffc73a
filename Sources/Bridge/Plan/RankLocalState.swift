import TensorCore

/// One tensor of one Megatron rank, as planned (nothing read): its name as the rank's modules see it
/// (layer indices local to the pipeline stage, expert indices local to the expert-parallel rank), the
/// parameter's shards the rank holds (stacked along axis 0: a gated fc1 shard pair is the rank's
/// [gate_r; up_r]), and the local shape and dtype.
public struct PlannedRankTensor {
    public var name: String
    /// The index of the parameter in `ImportPlan.parameters`.
    public var parameter: Int
    public var shards: [Shard]
    public var shape: [Int]
    public var dtype: DType

    public var byteCount: Int { Shape.byteCount(shape, dtype) ?? 0 }
}

/// One tensor of one Megatron rank with its bytes as one lazy tensor, in the plan's target dtype.
public struct RankLocalTensor {
    public var name: String
    /// The index of the parameter in `ImportPlan.parameters`.
    public var parameter: Int
    public var source: ComposedTensor
}

extension ImportPlan {
    /// What rank (tp, pp, ep) holds, in plan order: the names, shards and shapes of exactly the tensors
    /// that its `model.load_state_dict` takes. One computation serves the legacy file plan, the legacy
    /// writer and the rank-local reader of the C ABI.
    public func rankTensors(rank: (tp: Int, pp: Int, ep: Int)) throws -> [PlannedRankTensor] {
        let l = request.layout
        for (name, r, size) in [("tp", rank.tp, l.tp), ("pp", rank.pp, l.pp), ("ep", rank.ep, l.ep)] where r < 0 || r >= size {
            throw BridgeError(.request, "\(name) rank \(r) is outside the layout \(l) (0..<\(size))",
                              hint: "pass a rank below the \(name) size")
        }
        var out = [PlannedRankTensor]()
        for (i, p) in parameters.enumerated() {
            let shards = try placement.shards(of: p, heldBy: rank)
            if shards.isEmpty { continue }
            out.append(PlannedRankTensor(name: try LocalShards.localName(p, placement: placement), parameter: i, shards: shards,
                                         shape: LocalShards.localShape(shards), dtype: parameterDTypes[i]))
        }
        return out
    }

    /// The `_extra_state` names rank (·, pp, ep) holds (TE modules save one per linear; their value is None).
    public func rankExtraStates(pp: Int, ep: Int) throws -> [String] {
        try extraStates.filter { placement.holds($0, pp: pp, ep: ep) }
            .map { x in try x.rule.megatron.render(placement.localIndices(x.indices, over: x.rule.over).map(String.init)) }
    }

    /// The tensors rank (tp, pp, ep) holds with their bytes: exactly what the legacy writer puts in that
    /// rank's `model_optim_rng.pt` under "model". Nothing is read: each tensor's bytes are read when the
    /// caller reads it.
    ///
    /// - Parameter sources: `parameterSource(i)` for every parameter, when the caller already built them.
    public func rankLocalTensors(rank: (tp: Int, pp: Int, ep: Int), sources: [ComposedTensor]? = nil) throws -> [RankLocalTensor] {
        try rankTensors(rank: rank).map { t in
            RankLocalTensor(name: t.name, parameter: t.parameter,
                            source: try ImportPipeline.localTensor(try sources?[t.parameter] ?? parameterSource(t.parameter), shards: t.shards))
        }
    }
}

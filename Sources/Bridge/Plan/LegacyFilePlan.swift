import TorchFormats

/// One `mp_rank_XX[_YYY[_ZZZ]]/model_optim_rng.pt` of a legacy import, as planned: which rank writes it
/// and the tensors and `_extra_state` entries it holds. `plan import --format legacy` prints these, and
/// the legacy writer writes exactly these.
public struct PlannedLegacyFile {
    public var rank: LegacyRank
    /// The path inside the iteration folder, e.g. `mp_rank_01_000/model_optim_rng.pt`.
    public var path: String
    public var tensors: [PlannedRankTensor]
    public var extraStates: [String]

    /// Bytes of tensor data in the file (the pickle and zip records come on top).
    public var tensorBytes: Int { tensors.reduce(0) { $0 + $1.byteCount } }
}

extension ImportPlan {
    /// Every legacy rank file, in Megatron's rank order (pp, then ep, then tp).
    public func legacyFiles() throws -> [PlannedLegacyFile] {
        let l = request.layout
        var out = [PlannedLegacyFile]()
        for pp in 0..<l.pp {
            for ep in 0..<l.ep {
                let extra = try rankExtraStates(pp: pp, ep: ep)
                for tp in 0..<l.tp {
                    let rank = LegacyRank(tp: tp, pp: pp, ep: ep)
                    let folder = rank.folderName(pipelineParallel: l.pp > 1, expertParallel: l.ep > 1)
                    out.append(PlannedLegacyFile(rank: rank, path: folder + "/" + LegacyRank.fileName,
                                                 tensors: try rankTensors(rank: (tp, pp, ep)), extraStates: extra))
                }
            }
        }
        return out
    }
}

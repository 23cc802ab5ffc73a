/// A rank of a legacy Megatron checkpoint and its folder name.
///
/// Megatron-LM's `get_checkpoint_name` (megatron/training/checkpointing.py): `mp_rank_{tp:02d}`, plus
/// `_{pp:03d}` when pipeline parallelism is on (PP > 1), plus `_{ep:03d}` when expert parallelism is on
/// (EP > 1). With EP > 1 and PP = 1 the name is `mp_rank_{tp:02d}_{ep:03d}`, which looks exactly like a
/// PP name; which one it is must come from elsewhere (the saved args, or the caller).
public struct LegacyRank: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var tp: Int
    public var pp: Int
    public var ep: Int

    public init(tp: Int, pp: Int = 0, ep: Int = 0) {
        self.tp = tp
        self.pp = pp
        self.ep = ep
    }

    public static func < (a: LegacyRank, b: LegacyRank) -> Bool { (a.pp, a.ep, a.tp) < (b.pp, b.ep, b.tp) }

    public var description: String { "tp\(tp) pp\(pp) ep\(ep)" }

    public static let fileName = "model_optim_rng.pt"

    /// The rank folder name, following `get_checkpoint_name`.
    public func folderName(pipelineParallel: Bool, expertParallel: Bool) -> String {
        var s = "mp_rank_" + Self.padded(tp, 2)
        if pipelineParallel { s += "_" + Self.padded(pp, 3) }
        if expertParallel { s += "_" + Self.padded(ep, 3) }
        return s
    }

    static func padded(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: Swift.max(0, width - s.count)) + s
    }

    /// The numbers in a rank folder name (1 to 3 of them), nil when the name is not one.
    static func components(of folderName: String) -> [Int]? {
        guard folderName.hasPrefix("mp_rank_") else { return nil }
        let parts = folderName.dropFirst("mp_rank_".count).split(separator: "_", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else { return nil }
        var out = [Int]()
        for (i, p) in parts.enumerated() {
            guard p.count >= (i == 0 ? 2 : 3), p.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(p) else { return nil }
            out.append(v)
        }
        return out
    }
}

import Foundation

/// Which share of a split conversion this process writes: node `index` of `count`.
///
/// From `--nodes N --node K` when given (they win), else from the scheduler's environment: a Slurm job
/// array (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`), Slurm tasks
/// (`SLURM_PROCID` of `SLURM_NTASKS`, as `srun` sets them), or torchrun (`RANK` of `WORLD_SIZE`). A source
/// that says one node means "not split"; two sources that both split and disagree are refused, since
/// guessing would write a share of the wrong plan.
public struct NodeIdentity: Equatable, Sendable, CustomStringConvertible {
    /// How many nodes share the conversion (≥ 1).
    public var count: Int
    /// This node, 0 ..< count.
    public var index: Int
    /// Where the identity came from (`--nodes/--node`, `SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT`, …).
    public var origin: String

    public init(count: Int, index: Int, origin: String) {
        self.count = count
        self.index = index
        self.origin = origin
    }

    public var description: String { "node \(index) of \(count) (from \(origin))" }

    /// The largest node count accepted (a typo guard; far above any cluster a conversion would use).
    public static let maxCount = 100_000

    /// A usage error: bad or conflicting flags or environment values (the CLI exits 64).
    public struct UsageError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The identity of this process, nil when the conversion is not split (no flags, no scheduler
    /// variables, or a single node).
    public static func resolve(nodes: Int?, node: Int?, environment: [String: String]) throws -> NodeIdentity? {
        if nodes != nil || node != nil {
            guard let nodes else { throw UsageError(description: "--node \(node!) needs --nodes N (how many nodes share the conversion)") }
            guard nodes >= 1, nodes <= maxCount else { throw UsageError(description: "--nodes must be between 1 and \(maxCount), not \(nodes)") }
            guard let node else {
                if nodes == 1 { return nil }
                throw UsageError(description: "--nodes \(nodes) needs --node K (this node, 0…\(nodes - 1))")
            }
            guard node >= 0, node < nodes else { throw UsageError(description: "--node must be between 0 and \(nodes - 1) for --nodes \(nodes), not \(node)") }
            return nodes == 1 ? nil : NodeIdentity(count: nodes, index: node, origin: "--nodes/--node")
        }
        var found = [NodeIdentity]()
        for source in sources {
            guard let id = try source.read(environment) else { continue }
            if id.count > 1 { found.append(id) }
        }
        guard let first = found.first else { return nil }
        for other in found.dropFirst() where other.count != first.count || other.index != first.index {
            throw UsageError(description: "the environment names two different nodes: \(first) and \(other); pass --nodes N --node K")
        }
        return first
    }

    /// One scheduler's pair of variables.
    struct Source {
        var indexVariable: String
        var countVariable: String
        /// Subtracted from the index (a job array may start at any id).
        var baseVariable: String?

        func read(_ env: [String: String]) throws -> NodeIdentity? {
            guard let rawIndex = env[indexVariable], let rawCount = env[countVariable] else { return nil }
            func int(_ name: String, _ raw: String) throws -> Int {
                guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else {
                    throw UsageError(description: "\(name)=\(raw) is not an integer; pass --nodes N --node K")
                }
                return v
            }
            let count = try int(countVariable, rawCount)
            var index = try int(indexVariable, rawIndex)
            if let b = baseVariable, let raw = env[b] { index -= try int(b, raw) }
            let origin = "\(indexVariable)/\(countVariable)"
            guard count >= 1, count <= NodeIdentity.maxCount else {
                throw UsageError(description: "\(countVariable)=\(rawCount) is out of range (1…\(NodeIdentity.maxCount)); pass --nodes N --node K")
            }
            guard index >= 0, index < count else {
                let base = baseVariable.flatMap { env[$0] }.map { " (less \(baseVariable!)=\($0))" } ?? ""
                throw UsageError(description: "\(indexVariable)=\(rawIndex)\(base) is not a node 0…\(count - 1) of \(countVariable)=\(rawCount)" +
                                 (baseVariable != nil ? "; submit the array as --array=0-\(count - 1)" : "") + ", or pass --nodes N --node K")
            }
            return NodeIdentity(count: count, index: index, origin: origin)
        }
    }

    /// Slurm job arrays first (the usual way to fan a conversion out), then Slurm tasks, then torchrun.
    static let sources = [
        Source(indexVariable: "SLURM_ARRAY_TASK_ID", countVariable: "SLURM_ARRAY_TASK_COUNT", baseVariable: "SLURM_ARRAY_TASK_MIN"),
        Source(indexVariable: "SLURM_PROCID", countVariable: "SLURM_NTASKS"),
        Source(indexVariable: "RANK", countVariable: "WORLD_SIZE"),
    ]
}

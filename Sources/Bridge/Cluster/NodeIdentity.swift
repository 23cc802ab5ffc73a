import Foundation

/// Which share of a split conversion this process writes: node `index` of `count`.
///
/// From `--nodes N --node K` when given (they win), else from the scheduler's environment: a Slurm job
/// array (`SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`), Slurm tasks (`SLURM_PROCID` of `SLURM_NTASKS`,
/// as `srun` sets them), or torchrun (`RANK` of `WORLD_SIZE`). A source that says one node means "not
/// split"; two sources that both split and disagree are refused, since guessing would write a share of the
/// wrong plan. `--nodes N` alone takes only the index from the environment: that is how one node of an array
/// is rerun (`sbatch --array=1` has a `SLURM_ARRAY_TASK_COUNT` of 1, so the count must come from the flag).
///
/// The array id is used as it is, not less `SLURM_ARRAY_TASK_MIN`: a rerun of nodes 1 and 3 (`--array=1,3`)
/// must still be nodes 1 and 3. An array submitted as `--array=1-4` is refused with the fix.
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
        if let node, nodes == nil { throw UsageError(description: "--node \(node) needs --nodes N (how many nodes share the conversion)") }
        if let nodes {
            guard nodes >= 1, nodes <= maxCount else { throw UsageError(description: "--nodes must be between 1 and \(maxCount), not \(nodes)") }
            if nodes == 1 { return nil }
            if let node {
                guard node >= 0, node < nodes else { throw UsageError(description: "--node must be between 0 and \(nodes - 1) for --nodes \(nodes), not \(node)") }
                return NodeIdentity(count: nodes, index: node, origin: "--nodes/--node")
            }
            return try indexFromEnvironment(nodes: nodes, environment)
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

    /// `--nodes N` without `--node`: the index from the array id, or from the task / torchrun rank of a
    /// source that splits (an array's tasks also carry `SLURM_PROCID=0`, which is not a node index).
    static func indexFromEnvironment(nodes: Int, _ env: [String: String]) throws -> NodeIdentity {
        var found = [(index: Int, variable: String)]()
        for source in sources {
            guard let raw = env[source.indexVariable] else { continue }
            let index = try Source.int(source.indexVariable, raw)
            let count = try env[source.countVariable].map { try Source.int(source.countVariable, $0) }
            guard source.isArray || (count ?? 1) > 1 else { continue }
            found.append((index, source.indexVariable))
        }
        guard let first = found.first else {
            throw UsageError(description: "--nodes \(nodes) needs --node K (this node, 0…\(nodes - 1)), or SLURM_ARRAY_TASK_ID, SLURM_PROCID or RANK in the environment")
        }
        for other in found.dropFirst() where other.index != first.index {
            throw UsageError(description: "the environment names two different nodes: \(first.variable)=\(first.index) and \(other.variable)=\(other.index); pass --node K")
        }
        guard first.index >= 0, first.index < nodes else {
            throw UsageError(description: "\(first.variable)=\(first.index) is not a node 0…\(nodes - 1) of --nodes \(nodes)")
        }
        return NodeIdentity(count: nodes, index: first.index, origin: "--nodes/\(first.variable)")
    }

    /// One scheduler's pair of variables.
    struct Source {
        var indexVariable: String
        var countVariable: String
        /// A Slurm job array: its id is the node even when a rerun's array is smaller.
        var isArray = false

        static func int(_ name: String, _ raw: String) throws -> Int {
            guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else {
                throw UsageError(description: "\(name)=\(raw) is not an integer; pass --nodes N --node K")
            }
            return v
        }

        func read(_ env: [String: String]) throws -> NodeIdentity? {
            guard let rawIndex = env[indexVariable], let rawCount = env[countVariable] else { return nil }
            let count = try Self.int(countVariable, rawCount)
            let index = try Self.int(indexVariable, rawIndex)
            let origin = "\(indexVariable)/\(countVariable)"
            guard count >= 1, count <= NodeIdentity.maxCount else {
                throw UsageError(description: "\(countVariable)=\(rawCount) is out of range (1…\(NodeIdentity.maxCount)); pass --nodes N --node K")
            }
            guard index >= 0, index < count else {
                throw UsageError(description: "\(indexVariable)=\(rawIndex) is not a node 0…\(count - 1) of \(countVariable)=\(rawCount)" +
                                 (isArray ? "; submit the array as --array=0-\(count - 1), or, rerunning some nodes, pass --nodes N" : "; pass --nodes N --node K"))
            }
            return NodeIdentity(count: count, index: index, origin: origin)
        }
    }

    /// Slurm job arrays first (the usual way to fan a conversion out), then Slurm tasks, then torchrun.
    static let sources = [
        Source(indexVariable: "SLURM_ARRAY_TASK_ID", countVariable: "SLURM_ARRAY_TASK_COUNT", isArray: true),
        Source(indexVariable: "SLURM_PROCID", countVariable: "SLURM_NTASKS"),
        Source(indexVariable: "RANK", countVariable: "WORLD_SIZE"),
    ]
}

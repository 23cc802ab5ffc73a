import Foundation
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// The pieces of a split conversion that need no CLI: which node writes which file, where a node's
/// identity comes from, and the manifest a node leaves (refused when damaged or hostile). The end-to-end
/// behaviour (byte-identical outputs, kills, Slurm, torchrun) is tested in Tests/Cluster.
@Suite struct ClusterTests {
    // MARK: NodeAssignment

    @Test func assignmentIsBalancedAndUsesEveryNode() {
        let sizes = [700, 100, 100, 300, 300, 200, 200, 100]
        let owners = NodeAssignment.assign(sizes: sizes, nodes: 4)
        var load = [Int](repeating: 0, count: 4)
        for (s, o) in zip(sizes, owners) { load[o] += s }
        // Largest first to the least loaded: no node more than the largest file above another.
        #expect(load.max()! - load.min()! <= sizes.max()!)
        #expect(Set(owners) == [0, 1, 2, 3])
        #expect(NodeAssignment.assign(sizes: sizes, nodes: 4) == owners, "every node must compute the same assignment")
        // Fewer files than nodes: the extra nodes write nothing but the small files.
        #expect(NodeAssignment.assign(sizes: [5, 9], nodes: 4) == [1, 0])
        #expect(NodeAssignment.assign(sizes: [], nodes: 3) == [])
    }

    // MARK: NodeIdentity

    func identity(_ env: [String: String], nodes: Int? = nil, node: Int? = nil) throws -> NodeIdentity? {
        try NodeIdentity.resolve(nodes: nodes, node: node, environment: env)
    }

    @Test func identityFromFlagsAndEachScheduler() throws {
        #expect(try identity([:]) == nil)
        #expect(try identity([:], nodes: 4, node: 2) == NodeIdentity(count: 4, index: 2, origin: "--nodes/--node"))
        #expect(try identity(["RANK": "3", "WORLD_SIZE": "4"], nodes: 4, node: 1)?.index == 1, "flags win")
        #expect(try identity(["RANK": "3", "WORLD_SIZE": "4"], nodes: 1) == nil, "--nodes 1 is a whole run")
        #expect(try identity(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_PROCID": "0"])
                == NodeIdentity(count: 4, index: 2, origin: "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT"))
        #expect(try identity(["SLURM_PROCID": "5", "SLURM_NTASKS": "8"])?.index == 5)
        #expect(try identity(["RANK": "1", "WORLD_SIZE": "2"]) == NodeIdentity(count: 2, index: 1, origin: "RANK/WORLD_SIZE"))
        // One task or one rank: not split.
        #expect(try identity(["SLURM_PROCID": "0", "SLURM_NTASKS": "1", "RANK": "0", "WORLD_SIZE": "1"]) == nil)
        // srun inside torchrun (or the reverse) naming the same node agrees.
        #expect(try identity(["SLURM_PROCID": "1", "SLURM_NTASKS": "2", "RANK": "1", "WORLD_SIZE": "2"])?.index == 1)
        // Rerunning one node of an array (--array=3 has a count of 1): the count from --nodes, the id as the node.
        #expect(try identity(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_PROCID": "0"], nodes: 4)
                == NodeIdentity(count: 4, index: 3, origin: "--nodes/SLURM_ARRAY_TASK_ID"))
        #expect(try identity(["RANK": "2", "WORLD_SIZE": "4"], nodes: 4)?.index == 2)
    }

    @Test(arguments: [
        (["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4", "RANK": "2", "WORLD_SIZE": "4"], nil as Int?, nil as Int?, "two different nodes"),
        (["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"], nil, nil, "--array=0-3"),
        (["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1"], nil, nil, "pass --nodes N"),
        (["SLURM_NTASKS": "4", "SLURM_PROCID": "-1"], nil, nil, "is not a node"),
        (["WORLD_SIZE": "0", "RANK": "0"], nil, nil, "out of range"),
        (["RANK": "one", "WORLD_SIZE": "4"], nil, nil, "not an integer"),
        ([:], nil, 1, "needs --nodes"),
        ([:], 4, nil, "needs --node K"),
        ([:], 4, 4, "between 0 and 3"),
        ([:], 0, nil, "between 1 and"),
        (["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "1"], 4, nil, "is not a node 0…3"),
        (["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "1", "RANK": "2", "WORLD_SIZE": "4"], 4, nil, "two different nodes"),
    ])
    func badIdentitiesAreUsageErrors(env: [String: String], nodes: Int?, node: Int?, message: String) {
        do {
            let id = try identity(env, nodes: nodes, node: node)
            Issue.record("expected a usage error containing '\(message)', got \(String(describing: id))")
        } catch let e as NodeIdentity.UsageError {
            #expect(e.description.contains(message), "\(e.description)")
        } catch {
            Issue.record("expected a usage error, got \(error)")
        }
    }

    // MARK: NodeManifest

    static func manifest() -> NodeManifest {
        NodeManifest(conversion: .importToMegatron, node: 1, nodes: 2, overwrite: false, inputs: ["/in"],
                     plan: [.init(path: "release/__0_0.distcp", size: 10, node: 0), .init(path: "release/__1_0.distcp", size: 7, node: 1)],
                     written: [.init(path: "release/__1_0.distcp", size: 7, xxh3: "0123456789abcdef")],
                     others: [.init(path: "release/.metadata", size: 3, xxh3: "fedcba9876543210")],
                     command: ["ckpt-bridge", "import"], origin: "--nodes/--node", host: "h")
    }

    func readBack(_ bytes: [UInt8]) throws -> NodeManifest {
        let dir = Fixtures.scratch("manifest")
        defer { FileSystem.remove(dir) }
        let path = FileSystem.join(dir, NodeManifest.fileName)
        try writeWholeFile(path, bytes)
        return try NodeManifest.read(path)
    }

    @Test func manifestRoundTrips() throws {
        let m = Self.manifest()
        #expect(try readBack(m.json()) == m)
    }

    /// Each edit of a valid manifest that a damaged file or a hostile share could hold is refused by name.
    static let edits: [(String, (inout [String: Any]) -> Void)] = [
        ("not a plain relative path", { j in j["others"] = [["path": "../../etc/passwd", "size": 3, "xxh3": "fedcba9876543210"]] }),
        ("not a plain relative path", { j in j["plan"] = [["path": "/abs", "size": 10, "node": 0]] }),
        ("not the node's planned files", { j in j["written"] = [["path": "release/__1_0.distcp", "size": 8, "xxh3": "0123456789abcdef"]] }),
        ("not the node's planned files", { j in j["written"] = [] }),
        ("out of range", { j in j["node"] = 2 }),
        ("bad xxh3", { j in j["written"] = [["path": "release/__1_0.distcp", "size": 7, "xxh3": "0123456789ABCDEF"]] }),
        ("repeat a path", { j in j["others"] = [["path": "release/__0_0.distcp", "size": 3, "xxh3": "fedcba9876543210"]] }),
        ("fingerprint does not match", { j in j["others"] = [["path": "release/.metadata", "size": 3, "xxh3": "fedcba9876543211"]] }),
        ("not a version-1", { j in j["version"] = 2 }),
        ("non-negative integer", { j in j["nodes"] = -1 }),
    ]

    @Test(arguments: 0..<edits.count)
    func damagedManifestsAreRefused(edit: Int) throws {
        let (message, change) = Self.edits[edit]
        var json = try #require(try JSONSerialization.jsonObject(with: Data(Self.manifest().json())) as? [String: Any])
        change(&json)
        let bytes = [UInt8](try JSONSerialization.data(withJSONObject: json))
        do {
            _ = try readBack(bytes)
            Issue.record("accepted edit \(edit) (\(message))")
        } catch let e as BridgeError {
            #expect(e.code == .cluster && "\(e)".contains(message), "\(e)")
        }
    }

    @Test func oversizedAndNonJSONManifestsAreRefused() throws {
        #expect(throws: BridgeError.self) { try readBack(Array("{\"format\": ".utf8)) }
        #expect(throws: BridgeError.self) { try readBack([]) }
    }

    @Test func shareNamesParse() {
        #expect(StagingArea.shareName(3) == "node-0003" && StagingArea.shareName(12345) == "node-12345")
        #expect(StagingArea.node(ofShareName: "node-0003") == 3)
        for bad in ["node-3", "node-+003", "node-00003", "node-x003", ".node-0003.partial-1-2"] {
            #expect(StagingArea.node(ofShareName: bad) == nil, "\(bad)")
        }
        #expect(StagingArea(output: "/a/out//").path == "/a/out.staging")
    }
}

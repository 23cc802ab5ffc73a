import Bridge
import TensorCore

/// `plan import/export … --nodes N`: how a split conversion would share the data files, so a job can be
/// sized before it is submitted (the same assignment every node computes, `NodeAssignment`).
enum SplitPlanReport {
    static func perNode(_ output: ConversionOutput, nodes: Int) -> [(node: Int, files: [NodeManifest.PlannedFile])] {
        let plan = NodeShareWriter.plan(output, nodes: nodes)
        return (0..<nodes).map { n in (n, plan.filter { $0.node == n }) }
    }

    static func text(_ output: ConversionOutput, nodes: Int) -> String {
        let rows = perNode(output, nodes: nodes).map { n, files -> [String] in
            let bytes = files.reduce(0) { $0 + $1.size }
            let names = files.prefix(3).map(\.path).joined(separator: ", ") + (files.count > 3 ? ", …" : "")
            return ["\(n)", "\(files.count)", "\(bytes)", ByteCount.format(bytes), names]
        }
        return renderTable(["node", "data files", "bytes", "", "files"], rows, rightAligned: [1, 2, 3])
    }

    static func json(_ output: ConversionOutput, nodes: Int) -> JSONValue {
        .array(perNode(output, nodes: nodes).map { n, files in
            .object([("node", .int(n)), ("bytes", .int(files.reduce(0) { $0 + $1.size })),
                     ("files", .array(files.map { .object([("path", .string($0.path)), ("size", .int($0.size))]) }))])
        })
    }

    /// The plan's JSON report with a `split` member added.
    static func adding(_ output: ConversionOutput, nodes: Int?, to report: JSONValue) -> JSONValue {
        guard let nodes, case let .object(members) = report else { return report }
        return .object(members + [("split", .object([("nodes", .int(nodes)), ("shares", json(output, nodes: nodes))]))])
    }
}

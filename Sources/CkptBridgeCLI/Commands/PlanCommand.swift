import ArgumentParser
import Bridge
import TensorCore

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Dry run: show what import or export would write, and check it, without writing anything.",
        discussion: """
        Takes exactly the arguments of import or export. Every check runs (key accounting, shapes against \
        the config, divisibility); then each target tensor is listed with its sources, transform, chunks \
        per rank and bytes.

        Examples:
          ckpt-bridge plan import ./Qwen3-VL-30B-A3B-Instruct ./megatron --tp 2 --ep 4
          ckpt-bridge plan export ./megatron ./hf --json > plan.json
        """,
        subcommands: [PlanImport.self, PlanExport.self]
    )
}

struct PlanImport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Plan an import (HF → Megatron).")
    @OptionGroup var arguments: ImportArguments
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "List every chunk, not only counts per tensor.") var chunks = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let plan = try arguments.plan()
            let p = plan.parameters
            var rows = [[String]]()
            var items = [JSONValue]()
            for s in plan.storage {
                let first = p[s.parameters[0]]
                let sources = s.parameters.count == 1 ? first.hfNames.values.sorted().joined(separator: ", ")
                    : "\(s.parameters.count) parameters, e.g. " + first.hfNames.values.sorted().joined(separator: ", ")
                let ranks = Set(s.chunks.map(\.rank)).sorted()
                let bytes = Shape.byteCount(s.shape, s.dtype) ?? 0
                rows.append([s.key, s.dtype.rawValue, Shape.describe(s.shape), first.rule.transform.rawValue, first.parallel.rawValue,
                             "\(s.chunks.count)", ranks.map(String.init).joined(separator: ","), "\(bytes)", sources])
                var obj: [(String, JSONValue)] = [("key", .string(s.key)), ("dtype", .string(s.dtype.rawValue)), ("shape", .ints(s.shape)),
                                                  ("transform", .string(first.rule.transform.rawValue)), ("parallel", .string(first.parallel.rawValue)),
                                                  ("bytes", .int(bytes)), ("sources", .array(s.parameters.flatMap { p[$0].hfNames.values.sorted() }.map { .string($0) }))]
                obj.append(("chunks", .array(s.chunks.map { c in
                    .object([("rank", .int(c.rank)), ("offsets", .ints(c.box.offsets)), ("sizes", .ints(c.box.sizes))])
                })))
                items.append(.object(obj))
                if chunks {
                    for c in s.chunks { rows.append(["  chunk", "", "\(c.box)", "", "", "", "rank \(c.rank)", "", p[c.parameter].name]) }
                }
            }
            let summary: [(String, String)] = [
                ("family", plan.context.table.family), ("layout", plan.request.layout.description),
                ("world size", "\(plan.request.layout.worldSize)"), ("format", plan.request.format.rawValue),
                ("vision layout", plan.context.visionLayout?.rawValue ?? "none"), ("HF experts", plan.context.expertLayout.description),
                ("tensors", "\(plan.storage.count)"), ("parameters", "\(p.count)"),
                ("_extra_state objects", "\(plan.extraStates.count)"), ("bytes", "\(plan.totalBytes) (\(ByteCount.format(plan.totalBytes)))"),
            ]
            if json {
                print(JSONWriter.write(.object(summary.map { ($0.0, .string($0.1)) } + [("tensors_detail", .array(items))])))
            } else {
                print(renderTable(["key", "dtype", "shape", "transform", "parallel", "chunks", "ranks", "bytes", "from"], rows, rightAligned: [5, 7]))
                print("")
                for (k, v) in summary { print("\(k): \(v)") }
                print("nothing written (dry run)")
            }
        }
    }
}

struct PlanExport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Plan an export (Megatron → HF).")
    @OptionGroup var arguments: ExportArguments
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let (plan, found) = try arguments.plan()
            var rows = [[String]]()
            var items = [JSONValue]()
            for t in plan.hfTensors {
                let params = Set(t.parts.map { plan.parameters[$0.0].name }).sorted()
                let transform = plan.parameters[t.parts[0].0].rule.transform.rawValue
                rows.append([t.name, Shape.describe(t.shape), transform, params.count == 1 ? params[0] : "\(params.count) parameters"])
                items.append(.object([("name", .string(t.name)), ("shape", .ints(t.shape)), ("transform", .string(transform)),
                                      ("sources", .array(params.map { .string($0) }))]))
            }
            let summary: [(String, String)] = [
                ("family", plan.context.table.family), ("vision layout", plan.context.visionLayout?.rawValue ?? "none"),
                ("HF experts", plan.context.expertLayout.description), ("config", found.origin),
                ("tensors", "\(plan.hfTensors.count)"), ("bytes", "\(plan.totalBytes) (\(ByteCount.format(plan.totalBytes)))"),
            ]
            if json {
                print(JSONWriter.write(.object(summary.map { ($0.0, .string($0.1)) } + [("tensors_detail", .array(items))])))
            } else {
                print(renderTable(["hf tensor", "shape", "transform", "from"], rows))
                print("")
                for (k, v) in summary { print("\(k): \(v)") }
                print("nothing written (dry run)")
            }
        }
    }
}

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
          ckpt-bridge plan import ./hf ./megatron --tp 2 --ep 4 --nodes 4     (what each of 4 nodes would write)
        """,
        subcommands: [PlanImport.self, PlanExport.self]
    )
}

struct PlanImport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Plan an import (HF → Megatron).")
    @OptionGroup var arguments: ImportArguments
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "List every chunk (torch_dist) or every tensor of each rank file (legacy), not only counts.") var chunks = false
    @OptionGroup var split: SplitPreviewOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let plan = try arguments.plan()
            let output = try split.nodes.map { _ in try ImportPipeline.output(plan) }
            if json {
                let report = try plan.reportJSON()
                print(JSONWriter.write(output.map { SplitPlanReport.adding($0, nodes: split.nodes, to: report) } ?? report))
                return
            }
            let (header, rows, rightAligned) = plan.request.format == .legacy ? try legacyTable(plan) : storageTable(plan)
            print(renderTable(header, rows, rightAligned: rightAligned))
            let summary = plan.summary
            print("")
            for (k, v) in summary { print("\(k): \(v)") }
            if let output, let nodes = split.nodes { print("\nsplit over \(nodes) nodes:\n" + SplitPlanReport.text(output, nodes: nodes)) }
            print("nothing written (dry run)")
        }
    }

    /// torch_dist: each storage tensor with its sources, and its chunks per rank with `--chunks`.
    private func storageTable(_ plan: ImportPlan) -> ([String], [[String]], Set<Int>) {
        let p = plan.parameters
        var rows = [[String]]()
        for s in plan.storage {
            let first = p[s.parameters[0]]
            let sources = s.parameters.count == 1 ? first.hfNames.values.sorted().joined(separator: ", ")
                : "\(s.parameters.count) parameters, e.g. " + first.hfNames.values.sorted().joined(separator: ", ")
            let ranks = Set(s.chunks.map(\.rank)).sorted()
            let bytes = Shape.byteCount(s.shape, s.dtype) ?? 0
            rows.append([s.key, s.dtype.rawValue, Shape.describe(s.shape), first.rule.transform.rawValue, first.parallel.rawValue,
                         "\(s.chunks.count)", ranks.map(String.init).joined(separator: ","), "\(bytes)", sources])
            if chunks {
                for c in s.chunks { rows.append(["  chunk", "", "\(c.box)", "", "", "", "rank \(c.rank)", "", p[c.parameter].name]) }
            }
        }
        return (["key", "dtype", "shape", "transform", "parallel", "chunks", "ranks", "bytes", "from"], rows, [5, 7])
    }

    /// legacy: each rank file with its tensor count and bytes, and its tensors (rank-local names) with `--chunks`.
    private func legacyTable(_ plan: ImportPlan) throws -> ([String], [[String]], Set<Int>) {
        var rows = [[String]]()
        for f in try plan.legacyFiles() {
            rows.append([f.path, "\(f.rank)", "\(f.tensors.count)", "\(f.extraStates.count)", "\(f.tensorBytes)", ""])
            if chunks {
                for t in f.tensors {
                    rows.append(["  " + t.name, t.dtype.rawValue + " " + Shape.describe(t.shape), "", "", "\(t.byteCount)",
                                 plan.parameters[t.parameter].name])
                }
            }
        }
        return (["file", "rank", "tensors", "_extra_state", "bytes", "of parameter"], rows, [2, 3, 4])
    }
}

struct PlanExport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Plan an export (Megatron → HF).")
    @OptionGroup var arguments: ExportArguments
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var split: SplitPreviewOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let (plan, found) = try arguments.plan()
            let output = try split.nodes.map { _ in try ExportPipeline.output(plan, hfConfig: found.config, configDirectory: found.companionDirectory) }
            if json {
                let report = plan.reportJSON(configOrigin: found.origin)
                print(JSONWriter.write(output.map { SplitPlanReport.adding($0, nodes: split.nodes, to: report) } ?? report))
                return
            }
            let rows = plan.hfTensors.map { t -> [String] in
                let (transform, params) = plan.provenance(t)
                return [t.name, Shape.describe(t.shape), transform, params.count == 1 ? params[0] : "\(params.count) parameters"]
            }
            print(renderTable(["hf tensor", "shape", "transform", "from"], rows))
            print("")
            for (k, v) in plan.summary(configOrigin: found.origin) { print("\(k): \(v)") }
            if let output, let nodes = split.nodes { print("\nsplit over \(nodes) nodes:\n" + SplitPlanReport.text(output, nodes: nodes)) }
            print("nothing written (dry run)")
        }
    }
}

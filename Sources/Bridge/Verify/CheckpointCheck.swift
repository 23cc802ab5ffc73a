import Foundation
import SafeTensors
import TensorCore
import TorchFormats

/// What `ckpt-bridge check` found: the checks run on a checkpoint, each with what it looked at and every
/// problem it found (as the errors a conversion would stop with), without converting anything.
public struct CheckpointCheckReport {
    /// One failure, with the file, key and byte offset of the error a conversion would have stopped with.
    /// It is a `DiagnosticError`, so it prints (`oneLine`) as the CLI prints that error.
    public struct Problem: DiagnosticError {
        public var summary: String
        public var file: String?
        public var key: String?
        public var byteOffset: Int?
        public var hint: String?
        /// The one-line form of the error at the root of a wrapped one (`BridgeError.during`): two checks
        /// that stop at the same damage, with different context, report it once.
        var rootLine: String

        public init(_ error: Error) {
            if let d = error as? DiagnosticError {
                summary = d.summary; file = d.file; key = d.key; byteOffset = d.byteOffset; hint = d.hint
                rootLine = BridgeError.cause(of: d).oneLine
            } else {
                summary = String(describing: error)
                rootLine = summary
            }
        }
    }

    public struct Check {
        /// `structure`, `integrity.json`, `chunks`, `zip CRC-32`, `config`, …
        public var name: String
        /// What was looked at (counts), or why the check could not run.
        public var detail: String
        public var problems: [Problem]
        /// True when an earlier failure left nothing for this check to look at.
        public var skipped: Bool
        public var ok: Bool { problems.isEmpty && !skipped }
    }

    public var path: String
    public var format: CheckpointFormat
    public var checks: [Check]

    /// True when every check ran and found nothing.
    public var ok: Bool { checks.allSatisfy(\.ok) }
    public var problems: [Problem] { checks.flatMap(\.problems) }

    public var json: JSONValue {
        func problem(_ p: Problem) -> JSONValue {
            var m: [(String, JSONValue)] = [("error", .string(p.summary))]
            if let f = p.file { m.append(("file", .string(f))) }
            if let k = p.key { m.append(("key", .string(k))) }
            if let o = p.byteOffset { m.append(("byte_offset", .int(o))) }
            if let h = p.hint { m.append(("hint", .string(h))) }
            return .object(m)
        }
        return .object([
            ("path", .string(path)), ("format", .string(format.rawValue)), ("ok", .bool(ok)),
            ("problem_count", .int(problems.count)),
            ("checks", .array(checks.map { c in
                .object([("name", .string(c.name)), ("ok", .bool(c.ok)), ("skipped", .bool(c.skipped)),
                         ("detail", .string(c.detail)), ("problems", .array(c.problems.map(problem)))])
            })),
        ])
    }
}

/// Validates a whole checkpoint without converting it: every check runs (one failing does not hide the
/// others), and each lists every problem it finds, up to `maxProblemsPerCheck`.
///
/// - torch_dist: the folder's structure (tracker, `.metadata`, `metadata.json`, `common.pt`,
///   `run_config.yaml`, data files present and every stored item inside its file, no two items sharing
///   bytes, no data file that `.metadata` does not name), `integrity.json` when present, every global
///   tensor tiled by its chunks with no gap or overlap, every chunk and byte item opened with each zip
///   entry's CRC-32 checked, and the config against the mapping table (the export plan: every stored
///   tensor used, every HF tensor filled, shapes as the config says).
/// - legacy: structure (rank folders), `integrity.json` when present, every rank file's CRC-32s, config.
/// - HF safetensors: headers (every byte range inside the data section, tiling it), index against the
///   shards, shards the index does not name, and the config against the mapping table (the import plan).
public enum CheckpointCheck {
    public static let maxProblemsPerCheck = 100

    public static func run(_ path: String, hfConfig: String? = nil, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
                           mappings: String = MappingTableLoader.defaultDirectory()) throws -> CheckpointCheckReport {
        let format = try CheckpointFormat.detect(path)
        var report = CheckpointCheckReport(path: path, format: format, checks: [])
        switch format {
        case .torchDist: report.checks = torchDist(path, hfConfig: hfConfig, jobs: jobs, mappings: mappings)
        case .fsdpDTensor: report.checks = torchDist(path, hfConfig: hfConfig, jobs: jobs, mappings: mappings, fsdpDTensor: true)
        case .legacy: report.checks = legacy(path, hfConfig: hfConfig, jobs: jobs, mappings: mappings)
        case .safetensors: report.checks = safetensors(path, mappings: mappings)
        case .torchSave:
            throw BridgeError(.unknownFormat, "check validates whole checkpoints; this is a single torch.save file", file: path,
                              hint: "pass the checkpoint folder (ckpt-bridge inspect reads single files)")
        }
        report.checks = withoutRepeats(report.checks)
        return report
    }

    /// A later check that stops at a problem an earlier one reported (the export plan opens the chunk whose
    /// CRC failed) lists it once; a check left with nothing of its own is marked as not run to the end.
    static func withoutRepeats(_ checks: [CheckpointCheckReport.Check]) -> [CheckpointCheckReport.Check] {
        var seen = Set<String>()
        return checks.map { c in
            var c = c
            let had = c.problems.count
            c.problems = c.problems.filter { seen.insert($0.rootLine).inserted }
            if had > 0 && c.problems.isEmpty {
                c.skipped = true
                c.detail = "not run to the end: stopped at a problem listed above"
            }
            return c
        }
    }

    /// Collects problems for one check.
    struct Collector {
        var problems = [CheckpointCheckReport.Problem]()
        var more = 0

        mutating func attempt(_ body: () throws -> Void) {
            do { try body() } catch { add(error) }
        }

        mutating func add(_ error: Error) {
            if problems.count < CheckpointCheck.maxProblemsPerCheck { problems.append(.init(error)) } else { more += 1 }
        }

        func check(_ name: String, _ detail: String) -> CheckpointCheckReport.Check {
            let d = more > 0 ? detail + "; \(more) more problems not listed" : detail
            return .init(name: name, detail: d, problems: problems, skipped: false)
        }
    }

    static func skipped(_ name: String, because: String) -> CheckpointCheckReport.Check {
        .init(name: name, detail: "not run: \(because)", problems: [], skipped: true)
    }

    static func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

    // MARK: Megatron

    static func integrity(_ dir: String, jobs: Int) -> CheckpointCheckReport.Check {
        var c = Collector()
        var detail = "absent (megatron-core writes it only when saving with verify_integrity)"
        var found = [Error]()
        c.attempt {
            if let m = try IntegrityManifest.load(directory: dir) {
                detail = "\(plural(m.files.count, "file")) listed, every SHA-256 matches"
                found = try IntegrityManifest.problems(m, directory: dir, jobs: jobs)
            }
        }
        for p in found { c.add(p) }
        if !c.problems.isEmpty { detail = "integrity.json does not vouch for the folder" }
        return c.check("integrity.json", detail)
    }

    /// torch_dist, or (`fsdpDTensor`) Megatron FSDP's bare DCP save, whose tensors are then also checked to
    /// form the torch_dist view (`FSDPDTensorStore`) before the config check plans an export from it.
    static func torchDist(_ path: String, hfConfig: String?, jobs: Int, mappings: String, fsdpDTensor: Bool = false) -> [CheckpointCheckReport.Check] {
        var checks = [CheckpointCheckReport.Check]()
        var structure = Collector()
        var ckpt: TorchDistCheckpoint?
        structure.attempt { ckpt = try TorchDistCheckpoint(path: path, verifyCRC: true, asMegatron: !fsdpDTensor, verifyIntegrity: false) }
        guard let ckpt else {
            checks.append(structure.check("structure", "the folder cannot be opened as a \(fsdpDTensor ? "fsdp_dtensor" : "torch_dist") checkpoint"))
            if let dir = try? CheckpointFormat.iterationDirectory(path) { checks.append(integrity(dir, jobs: jobs)) }
            for n in ["chunks and zip CRC-32", "config"] { checks.append(skipped(n, because: "the structure is broken")) }
            return checks
        }
        let files = storageFiles(ckpt, into: &structure)
        checks.append(structure.check("structure", "\(ckpt.directory): \(plural(ckpt.tensorKeys.count, "tensor")), "
            + "\(plural(ckpt.byteKeys.count, "byte item")), \(plural(files, "data file")); "
            + "metadata.json \(ckpt.metadataJSON == nil ? "absent" : "ok"), common state "
            + (FileSystem.isFile(FileSystem.join(ckpt.directory, TorchDistCheckpoint.commonFileName)) ? "common.pt ok"
               : ckpt.byteKeys.contains(TorchDistCheckpoint.commonStateKey) ? "in the DCP item \(TorchDistCheckpoint.commonStateKey)" : "absent")))
        checks.append(integrity(ckpt.directory, jobs: jobs))
        var chunks = Collector()
        var chunkCount = 0
        for k in ckpt.tensorKeys {
            chunks.attempt {
                chunkCount += try ckpt.tensorEntry(k).chunks.count
                _ = try ckpt.tensor(k)
            }
        }
        for k in ckpt.byteKeys { chunks.attempt { _ = try ckpt.bytesItem(k) } }
        checks.append(chunks.check("chunks and zip CRC-32",
                                   "\(plural(ckpt.tensorKeys.count, "global tensor")) tiled by \(plural(chunkCount, "chunk")) with no gap or overlap, "
                                   + "\(plural(ckpt.byteKeys.count, "byte item")); the CRC-32 of every zip entry checked"))
        guard fsdpDTensor else {
            checks.append(config(.torchDist(ckpt), hfConfig: hfConfig, mappings: mappings))
            return checks
        }
        var view = Collector()
        var store: FSDPDTensorStore?
        view.attempt {
            let s = try FSDPDTensorStore(ckpt)
            for k in s.tensorNames { _ = try s.tensorSource(k) }
            store = s
        }
        checks.append(view.check("fsdp_dtensor names", store.map {
            "\(plural($0.pieceCount, "model tensor")) form \(plural($0.tensorNames.count, "torch_dist tensor")) (layers and experts stacked, SwiGLU _w/_v joined); "
                + "\(plural($0.trainingStateKeys.count, "training-state tensor")) not read as weights"
        } ?? "the tensors do not form Megatron parameters"))
        if let store { checks.append(config(.fsdpDTensor(store), hfConfig: hfConfig, mappings: mappings)) } else {
            checks.append(skipped("config", because: "the fsdp_dtensor names are broken"))
        }
        return checks
    }

    /// Checks every storage location against its file: the file exists, the item lies inside it, and no two
    /// items share bytes; data files `.metadata` does not name are problems too. Returns the file count.
    static func storageFiles(_ ckpt: TorchDistCheckpoint, into c: inout Collector) -> Int {
        var byFile = [String: [(Int, Int, String)]]()
        for (index, info) in ckpt.metadata.storage {
            byFile[info.relativePath, default: []].append((info.offset, info.length, index.fqn))
        }
        for (name, items) in byFile.sorted(by: { $0.key < $1.key }) {
            let p = FileSystem.join(ckpt.directory, name)
            guard FileSystem.isContainedRelativePath(name, allowSubfolders: false), FileSystem.isFile(p), let size = FileSystem.fileSize(p) else {
                c.add(TorchFormatsError(.dcpInvalid, ".metadata names data file \(name), which is missing", file: p, key: items[0].2,
                                        hint: "the checkpoint is incomplete: copy the missing file again"))
                continue
            }
            var end = 0, endKey = ""
            for (offset, length, key) in items.sorted(by: { $0.0 < $1.0 }) {
                if offset < 0 || length < 0 || offset > size || length > size - offset {
                    c.add(TorchFormatsError(.dcpInvalid, "item of \(length) bytes at \(offset) reaches past the end of the \(size)-byte file",
                                            file: p, key: key, byteOffset: offset, hint: "the data file is truncated, or the metadata belongs to another save"))
                } else if offset < end {
                    c.add(TorchFormatsError(.dcpInvalid, "item overlaps the bytes of \(endKey) (which end at \(end))", file: p, key: key, byteOffset: offset,
                                            hint: "the checkpoint metadata is corrupt"))
                }
                if offset + length > end { end = offset + length; endKey = key }
            }
        }
        let names = (try? FileSystem.list(ckpt.directory)) ?? []
        for name in names.sorted() where name.hasSuffix(".distcp") && byFile[name] == nil {
            c.add(TorchFormatsError(.dcpInvalid, "data file \(name) is not named by .metadata", file: FileSystem.join(ckpt.directory, name),
                                    hint: "a file left from another save: remove it, or restore the .metadata that names it"))
        }
        return byFile.count
    }

    static func legacy(_ path: String, hfConfig: String?, jobs: Int, mappings: String) -> [CheckpointCheckReport.Check] {
        var checks = [CheckpointCheckReport.Check]()
        var structure = Collector()
        var ckpt: LegacyMegatronCheckpoint?
        structure.attempt { ckpt = try LegacyMegatronCheckpoint(path: path, verifyCRC: true, verifyIntegrity: false) }
        guard let ckpt else {
            checks.append(structure.check("structure", "the folder cannot be opened as a legacy checkpoint"))
            if let dir = try? CheckpointFormat.iterationDirectory(path) { checks.append(integrity(dir, jobs: jobs)) }
            for n in ["rank files and zip CRC-32", "config"] { checks.append(skipped(n, because: "the structure is broken")) }
            return checks
        }
        checks.append(structure.check("structure", "\(ckpt.directory): \(plural(ckpt.ranks.count, "rank folder"))"))
        checks.append(integrity(ckpt.directory, jobs: jobs))
        var ranks = Collector()
        for r in ckpt.ranks { ranks.attempt { _ = try ckpt.file(r) } }
        checks.append(ranks.check("rank files and zip CRC-32", "\(plural(ckpt.ranks.count, "rank file")) parsed; the CRC-32 of every zip entry checked"))
        checks.append(config(.legacy(ckpt), hfConfig: hfConfig, mappings: mappings))
        return checks
    }

    /// The config against the mapping table: the export plan accounts for every stored tensor and fills every
    /// HF tensor with the shape the config gives it.
    static func config(_ source: MegatronSource, hfConfig: String?, mappings: String) -> CheckpointCheckReport.Check {
        var c = Collector()
        var detail = "not verified against the mapping table"
        c.attempt {
            let checkpoint = try MegatronCheckpoint(source: source, hfConfig: hfConfig, mappings: mappings)
            let plan = try ExportPlan(reader: try checkpoint.parameterReader(), hfConfig: checkpoint.hfConfig, table: checkpoint.table,
                                      request: ExportRequest())
            detail = "config from \(checkpoint.found.origin), table \(checkpoint.table.family): \(plural(plan.parameters.count, "parameter")) "
                + "give \(plural(plan.hfTensors.count, "HF tensor")) with the config's shapes, every stored tensor used"
                + (plan.trainingState.isEmpty ? "" : " (\(plural(plan.trainingState.count, "training-state entry")) not weights)")
        }
        return c.check("config", detail)
    }

    // MARK: HF

    static func safetensors(_ path: String, mappings: String) -> [CheckpointCheckReport.Check] {
        var checks = [CheckpointCheckReport.Check]()
        var structure = Collector()
        var weights: SafeTensorsCheckpoint?
        structure.attempt { weights = try SafeTensorsCheckpoint(path: path) }
        guard let weights else {
            checks.append(structure.check("headers and index", "the safetensors files cannot be opened"))
            checks.append(skipped("config", because: "the safetensors files are broken"))
            return checks
        }
        if weights.indexed, FileSystem.isDirectory(path) {
            let named = Set(weights.files.map { FileSystem.basename($0.path) })
            for n in ((try? FileSystem.list(path)) ?? []).sorted() where n.hasSuffix(".safetensors") && !named.contains(n) {
                structure.add(SafeTensorsError(.invalidIndex, "\(n) is not named by \(SafeTensorsCheckpoint.indexFileName)", file: FileSystem.join(path, n),
                                               hint: "a shard left from another save: remove it, or restore the index that names it"))
            }
        }
        let bytes = weights.files.reduce(0) { $0 + (FileSystem.fileSize($1.path) ?? 0) }
        checks.append(structure.check("headers and index",
                                      "\(plural(weights.files.count, "file")), \(plural(weights.names.count, "tensor")), \(bytes) bytes: every header valid, "
                                      + "byte ranges tile each data section\(weights.indexed ? ", index and shards agree" : "")"))
        guard FileSystem.isDirectory(path) else {
            checks.append(skipped("config", because: "a single file has no config.json"))
            return checks
        }
        var c = Collector()
        var detail = "not verified against the mapping table"
        c.attempt {
            let hf = try HFCheckpoint(path: path, mappings: mappings)
            let plan = try ImportPlan(source: hf, request: ImportRequest())
            detail = "table \(hf.table.family): \(plural(hf.weights.names.count, "tensor")) give \(plural(plan.storage.count, "Megatron tensor")) "
                + "with the config's shapes, every tensor used"
        }
        checks.append(c.check("config", detail))
        return checks
    }
}

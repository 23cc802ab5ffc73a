import Foundation
import TensorCore
import Yams

/// Reads mapping tables from YAML, resolving `include:` fragments and their `${var}` variables, and
/// validates them strictly: unknown fields, unknown transforms or parallel kinds, wildcard counts that
/// disagree, and roles a transform does not know are all errors naming the file and line.
public enum MappingTableLoader {
    /// The folder holding the bundled tables: `$CKPT_BRIDGE_MAPPINGS`, else `Mappings/` next to the
    /// executable's package (found by walking up from the executable), else `Mappings/` in the working folder.
    public static func defaultDirectory() -> String {
        if let env = ProcessInfo.processInfo.environment["CKPT_BRIDGE_MAPPINGS"], FileSystem.isDirectory(env) { return env }
        var candidates = [String]()
        var dir = FileSystem.dirname(CommandLine.arguments.first.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path } ?? ".")
        for _ in 0..<6 {
            candidates.append(FileSystem.join(dir, "Mappings"))
            dir = FileSystem.dirname(dir)
        }
        var src = FileSystem.dirname(#filePath)
        for _ in 0..<4 { src = FileSystem.dirname(src) ; candidates.append(FileSystem.join(src, "Mappings")) }
        candidates.append(FileSystem.join(FileManager.default.currentDirectoryPath, "Mappings"))
        return candidates.first { FileSystem.isFile(FileSystem.join($0, "qwen3.yaml")) } ?? "Mappings"
    }

    /// Loads every `*.yaml` table (not the fragments) of a folder.
    public static func loadAll(directory: String = defaultDirectory()) throws -> [MappingTable] {
        let names = try FileSystem.list(directory).filter { $0.hasSuffix(".yaml") }
        guard !names.isEmpty else {
            throw BridgeError(.mappingTable, "no mapping tables found", file: directory,
                              hint: "set CKPT_BRIDGE_MAPPINGS to the project's Mappings/ folder")
        }
        return try names.map { try load(path: FileSystem.join(directory, $0)) }
    }

    /// The table whose `architectures` lists `architecture`.
    public static func table(forArchitecture architecture: String, directory: String = defaultDirectory()) throws -> MappingTable {
        let all = try loadAll(directory: directory)
        guard let t = all.first(where: { $0.architectures.contains(architecture) }) else {
            throw BridgeError(.config, "no mapping table for architecture '\(architecture)'",
                              hint: "supported: \(all.flatMap(\.architectures).sorted().joined(separator: ", "))")
        }
        return t
    }

    /// The table for a config: the one listing its first `architectures` entry. The one place a config
    /// without architectures is refused, so every command says the same.
    public static func table(for config: HFConfig, directory: String = defaultDirectory()) throws -> MappingTable {
        guard let arch = config.architectures.first else {
            throw BridgeError(.config, "config has no 'architectures'", file: config.path, key: "architectures",
                              hint: "add e.g. \"architectures\": [\"Qwen3VLForConditionalGeneration\"]")
        }
        do {
            return try table(forArchitecture: arch, directory: directory)
        } catch let e as BridgeError {
            throw e.with(file: config.path, key: "architectures")
        }
    }

    public static func load(path: String) throws -> MappingTable {
        let root = try parse(path: path)
        guard let map = root.mapping else { throw err(path, root, "a table must be a mapping") }
        try checkKeys(map, path: path, allowed: ["family", "description", "architectures", "provider", "config", "vision_layouts",
                                                 "include", "stacks", "experts", "tensors", "extra_state"])
        func str(_ k: String) throws -> String {
            guard let v = map[k]?.string else { throw err(path, root, "missing string field '\(k)'") }
            return v
        }
        var table = MappingTable(
            family: try str("family"), description: map["description"]?.string ?? "",
            architectures: try strings(map["architectures"], path: path, what: "architectures"),
            provider: try str("provider"),
            textSection: map["config"]?.mapping?["text"]?.string ?? "",
            visionSection: map["config"]?.mapping?["vision"]?.string,
            visionLayouts: try strings(map["vision_layouts"], path: path, what: "vision_layouts").map { l in
                guard let v = VisionLayout(rawValue: l) else { throw err(path, map["vision_layouts"]!, "unknown vision layout '\(l)'") }
                return v
            },
            stacks: [], expertRules: [], tensors: [], extraStates: [], path: path)
        for s in map["stacks"]?.sequence ?? [] {
            guard let m = s.mapping, let p = m["prefix"]?.string, let o = m["over"]?.string else {
                throw err(path, s, "a stack needs 'prefix' and 'over'")
            }
            let pattern = NamePattern(p)
            guard pattern.indexCount == 1, !pattern.hasSuffix else { throw err(path, s, "a stack prefix has exactly one '*'") }
            table.stacks.append(StackRule(prefix: pattern, over: try domain(o, path, s)))
        }
        for e in map["experts"]?.sequence ?? [] {
            guard let m = e.mapping, let l = m["logical"]?.string, let st = m["storage"]?.string else {
                throw err(path, e, "an expert rule needs 'logical' and 'storage'")
            }
            guard l.hasSuffix("*"), NamePattern(l).indexCount == 1 else { throw err(path, e, "an expert rule's logical name ends in one '*'") }
            table.expertRules.append(ExpertRule(logical: NamePattern(l), storage: st))
        }
        // Includes first, then the table's own entries.
        for inc in map["include"]?.sequence ?? [] {
            guard let m = inc.mapping, let file = m["file"]?.string else { throw err(path, inc, "an include needs 'file'") }
            var vars = [String: String]()
            for (k, v) in m["with"]?.mapping ?? [:] {
                guard let ks = k.string, let vs = v.string else { throw err(path, inc, "include variables are strings") }
                vars[ks] = vs
            }
            let incPath = FileSystem.join(FileSystem.dirname(path), file)
            let frag = try parse(path: incPath)
            guard let fm = frag.mapping else { throw err(incPath, frag, "a fragment must be a mapping") }
            try checkKeys(fm, path: incPath, allowed: ["tensors", "extra_state"])
            try appendEntries(fm, to: &table, path: incPath, vars: vars)
        }
        try appendEntries(map, to: &table, path: path, vars: [:])
        guard !table.tensors.isEmpty else { throw err(path, root, "the table has no tensors") }
        return table
    }

    private static func appendEntries(_ map: Node.Mapping, to table: inout MappingTable, path: String, vars: [String: String]) throws {
        for e in map["tensors"]?.sequence ?? [] { table.tensors.append(try tensorRule(e, path: path, vars: vars)) }
        for e in map["extra_state"]?.sequence ?? [] { table.extraStates.append(try extraRule(e, path: path, vars: vars)) }
    }

    private static func tensorRule(_ node: Node, path: String, vars: [String: String]) throws -> TensorRule {
        guard let m = node.mapping else { throw err(path, node, "a tensor entry must be a mapping") }
        try checkKeys(m, path: path, allowed: ["megatron", "hf", "transform", "parallel", "over", "when", "layout", "stage"])
        guard let mg = m["megatron"]?.string else { throw err(path, node, "a tensor entry needs 'megatron'") }
        let megatron = NamePattern(mg).substituting(vars)
        var sources = [HFSource]()
        if let s = m["hf"]?.string {
            sources.append(try hfSource(role: "", s, path: path, node: node, vars: vars))
        } else if let hm = m["hf"]?.mapping {
            for (k, v) in hm {
                guard let role = k.string, let s = v.string else { throw err(path, node, "hf roles map names to strings") }
                sources.append(try hfSource(role: role, s, path: path, node: node, vars: vars))
            }
        } else {
            throw err(path, node, "a tensor entry needs 'hf' (a name, or a map of roles to names)")
        }
        let transformName = m["transform"]?.string ?? "copy"
        guard let transform = TransformKind(rawValue: transformName) else {
            throw err(path, node, "unknown transform '\(transformName)'",
                      hint: "known: \(TransformKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let parallelName = m["parallel"]?.string, let parallel = ParallelKind(rawValue: parallelName) else {
            throw err(path, node, "missing or unknown 'parallel'", hint: "known: \(ParallelKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let over = try domains(m["over"], path: path, node: node)
        let rule = TensorRule(megatron: megatron, hf: sources, transform: transform, parallel: parallel, over: over,
                              when: try conditions(m["when"], path: path, node: node),
                              layout: try layout(m["layout"], path: path, node: node),
                              stage: try stage(m["stage"], path: path, node: node),
                              origin: "\(path):\(line(node))")
        try validate(rule, path: path, node: node)
        return rule
    }

    private static func extraRule(_ node: Node, path: String, vars: [String: String]) throws -> ExtraStateRule {
        guard let m = node.mapping, let mg = m["megatron"]?.string else { throw err(path, node, "an extra_state entry needs 'megatron'") }
        try checkKeys(m, path: path, allowed: ["megatron", "over", "when", "layout", "stage"])
        let pattern = NamePattern(mg).substituting(vars)
        let over = try domains(m["over"], path: path, node: node)
        guard pattern.indexCount == over.count, !pattern.hasSuffix else {
            throw err(path, node, "'\(pattern)' has \(pattern.indexCount) '*' but 'over' lists \(over.count) domains")
        }
        return ExtraStateRule(megatron: pattern, over: over, when: try conditions(m["when"], path: path, node: node),
                              layout: try layout(m["layout"], path: path, node: node),
                              stage: try stage(m["stage"], path: path, node: node), origin: "\(path):\(line(node))")
    }

    /// `name [shape]` or just `name`.
    private static func hfSource(role: String, _ text: String, path: String, node: Node, vars: [String: String]) throws -> HFSource {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let open = t.firstIndex(of: "[") else {
            return HFSource(role: role, pattern: NamePattern(t).substituting(vars), shape: nil)
        }
        guard t.hasSuffix("]") else { throw err(path, node, "bad shape in '\(text)'") }
        let name = t[..<open].trimmingCharacters(in: .whitespaces)
        let dims = t[t.index(after: open)..<t.index(before: t.endIndex)].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return HFSource(role: role, pattern: NamePattern(name).substituting(vars), shape: dims)
    }

    private static func validate(_ r: TensorRule, path: String, node: Node) throws {
        let roles = r.hf.map(\.role).sorted()
        guard roles == r.transform.roles.sorted() else {
            throw err(path, node, "transform '\(r.transform.rawValue)' reads roles \(r.transform.roles), the entry gives \(roles)")
        }
        let mgIndices = r.megatron.indexCount
        if r.megatron.hasSuffix {
            guard r.hf.allSatisfy({ $0.pattern.hasSuffix && $0.shape == nil }), r.over.isEmpty, r.transform == .copy else {
                throw err(path, node, "a '**' entry copies names whose shapes are declared elsewhere: both sides end in '**', no shape, no 'over'")
            }
            return
        }
        guard mgIndices == r.over.count else {
            throw err(path, node, "'\(r.megatron)' has \(mgIndices) '*' but 'over' lists \(r.over.count) domains")
        }
        for s in r.hf {
            guard s.shape != nil else { throw err(path, node, "HF source '\(s.pattern)' needs a shape, e.g. '[hidden]'") }
            let want = r.transform.indexesIntoHF ? mgIndices - 1 : mgIndices
            guard s.pattern.indexCount == want, !s.pattern.hasSuffix else {
                throw err(path, node, "HF source '\(s.pattern)' has \(s.pattern.indexCount) '*', expected \(want)")
            }
        }
        if r.parallel.isExpert != r.over.contains(.experts) {
            throw err(path, node, "expert parallel kinds go with 'over: [..., experts]' and only they do")
        }
    }

    // MARK: small parsers

    private static func parse(path: String) throws -> Node {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw BridgeError(.mappingTable, "cannot read mapping table", file: path, underlying: error)
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { throw BridgeError(.mappingTable, "empty mapping table", file: path) }
            return node
        } catch let e as BridgeError {
            throw e
        } catch {
            throw BridgeError(.mappingTable, "not valid YAML: \(error)", file: path)
        }
    }

    private static func line(_ node: Node) -> Int { (node.mark?.line ?? 0) }

    static func err(_ path: String, _ node: Node, _ message: String, hint: String? = nil) -> BridgeError {
        BridgeError(.mappingTable, message, file: "\(path):\(line(node))", hint: hint ?? "see Docs/mapping-tables.md")
    }

    private static func checkKeys(_ m: Node.Mapping, path: String, allowed: Set<String>) throws {
        for (k, _) in m {
            guard let ks = k.string, allowed.contains(ks) else {
                throw err(path, k, "unknown field '\(k.string ?? "?")'", hint: "allowed here: \(allowed.sorted().joined(separator: ", "))")
            }
        }
    }

    private static func strings(_ node: Node?, path: String, what: String) throws -> [String] {
        guard let node else { return [] }
        if let s = node.string { return [s] }
        guard let seq = node.sequence else { throw err(path, node, "'\(what)' must be a list") }
        return try seq.map { n in
            guard let s = n.string else { throw err(path, n, "'\(what)' must be a list of strings") }
            return s
        }
    }

    private static func domain(_ s: String, _ path: String, _ node: Node) throws -> IndexDomain {
        guard let d = IndexDomain(rawValue: s) else {
            throw err(path, node, "unknown index domain '\(s)'", hint: "known: \(IndexDomain.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return d
    }

    private static func domains(_ node: Node?, path: String, node parent: Node) throws -> [IndexDomain] {
        try strings(node, path: path, what: "over").map { try domain($0, path, node ?? parent) }
    }

    private static func conditions(_ node: Node?, path: String, node parent: Node) throws -> [Condition] {
        try strings(node, path: path, what: "when").map { c in
            guard let v = Condition(rawValue: c) else {
                throw err(path, node ?? parent, "unknown condition '\(c)'", hint: "known: \(Condition.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return v
        }
    }

    private static func layout(_ node: Node?, path: String, node parent: Node) throws -> VisionLayout? {
        guard let s = node?.string else { return nil }
        guard let l = VisionLayout(rawValue: s) else { throw err(path, parent, "unknown layout '\(s)'") }
        return l
    }

    private static func stage(_ node: Node?, path: String, node parent: Node) throws -> PipelineStagePlacement {
        guard let s = node?.string else { return .first }
        guard let p = PipelineStagePlacement(rawValue: s) else { throw err(path, parent, "stage is 'first' or 'last'") }
        return p
    }
}

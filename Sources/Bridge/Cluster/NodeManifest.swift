import TensorCore

/// What one node of a split conversion wrote (`OUT.staging/node-NNNN/node.json`): the whole plan every
/// node computed (each data file's path, size and node), the files this node wrote with their sizes and
/// XXH3-64, and the other (small) files with theirs. `finalize` trusts nothing in it without checking:
/// every field is validated on reading, and every file it names is measured and hashed again.
public struct NodeManifest: Equatable, Sendable {
    public static let fileName = "node.json"
    static let formatTag = "ckpt-bridge node share"
    static let version = 1
    /// A manifest larger than this is refused before it is read (a plan of a million files fits).
    static let maxBytes = 256 << 20

    /// One data file of the plan and the node that writes it.
    public struct PlannedFile: Equatable, Sendable {
        public var path: String
        public var size: Int
        public var node: Int
    }

    /// A file as written: relative path, size, XXH3-64 (16 hex digits).
    public struct FileRecord: Equatable, Sendable {
        public var path: String
        public var size: Int
        public var xxh3: String
    }

    public var conversion: Conversion
    public var node: Int
    public var nodes: Int
    /// Whether the node was run with `--overwrite` (finalize replaces an existing output only if all were).
    public var overwrite: Bool
    /// The folders the conversion read, resolved (finalize refuses an output onto, into or around them).
    public var inputs: [String]
    public var plan: [PlannedFile]
    /// This node's data files.
    public var written: [FileRecord]
    /// The other files (every node writes the same ones; finalize uses one verified copy).
    public var others: [FileRecord]
    /// The command line that wrote the share, and where its node identity came from (for the rerun hint).
    public var command: [String]
    public var origin: String
    public var host: String
    /// The folders whose `integrity.json` finalize writes (`ConversionOutput.integrityFolders`).
    public var integrityFolders: [String] = []

    /// XXH3-64 over everything all nodes must agree on: the conversion, the node count, the plan and the
    /// other files' bytes. Two nodes with different fingerprints were run on different inputs or arguments.
    public var fingerprint: String {
        var text = "\(conversion.rawValue)\n\(nodes)\n"
        for p in plan { text += "d \(p.node) \(p.size) \(p.path)\n" }
        for o in others { text += "o \(o.size) \(o.xxh3) \(o.path)\n" }
        for f in integrityFolders { text += "i \(f)\n" }
        return XXH3Hasher.hex(Array(text.utf8).withUnsafeBytes { XXH3Hasher.hash($0) })
    }

    /// The data files of the plan that `node` writes.
    public func planned(for node: Int) -> [PlannedFile] { plan.filter { $0.node == node } }

    public func json() -> [UInt8] {
        func record(_ r: FileRecord) -> JSONValue { .object([("path", .string(r.path)), ("size", .int(r.size)), ("xxh3", .string(r.xxh3))]) }
        let v: JSONValue = .object([
            ("format", .string(Self.formatTag)), ("version", .int(Self.version)),
            ("conversion", .string(conversion.rawValue)), ("node", .int(node)), ("nodes", .int(nodes)),
            ("fingerprint", .string(fingerprint)), ("overwrite", .bool(overwrite)),
            ("inputs", .array(inputs.map { .string($0) })),
            ("plan", .array(plan.map { .object([("path", .string($0.path)), ("size", .int($0.size)), ("node", .int($0.node))]) })),
            ("written", .array(written.map(record))), ("others", .array(others.map(record))),
            ("command", .array(command.map { .string($0) })), ("origin", .string(origin)), ("host", .string(host)),
            ("integrity_folders", .array(integrityFolders.map { .string($0) })),
        ])
        return Array((JSONWriter.write(v) + "\n").utf8)
    }

    /// Reads and validates the manifest at `path`. Any problem is a `BridgeError(.cluster)` naming the file.
    public static func read(_ path: String) throws -> NodeManifest {
        func fail(_ what: String) -> BridgeError { BridgeError(.cluster, "bad node manifest: \(what)", file: path) }
        guard let size = FileSystem.fileSize(path) else { throw fail("cannot read it") }
        guard size <= maxBytes else { throw fail("\(size) bytes, more than the \(maxBytes) accepted") }
        let bytes: [UInt8]
        do { bytes = try readWholeFile(path) } catch { throw BridgeError(.cluster, "cannot read the node manifest", file: path, underlying: error) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw fail("not JSON (\(error))") }
        func string(_ k: String) throws -> String { guard let s = json[k]?.stringValue else { throw fail("'\(k)' is missing or not a string") }; return s }
        func int(_ k: String, _ v: JSONValue?) throws -> Int { guard let i = v?.intValue, i >= 0 else { throw fail("'\(k)' is missing or not a non-negative integer") }; return i }
        func array(_ k: String) throws -> [JSONValue] { guard let a = json[k]?.arrayValue else { throw fail("'\(k)' is missing or not an array") }; return a }
        func relPath(_ v: JSONValue?, _ k: String) throws -> String {
            guard let s = v?.stringValue, FileSystem.isContainedRelativePath(s), s != fileName else { throw fail("'\(k)' holds a path that is not a plain relative path") }
            return s
        }
        func records(_ k: String) throws -> [FileRecord] {
            try array(k).map { r in
                let h = r["xxh3"]?.stringValue ?? ""
                guard h.count == 16, h.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { throw fail("'\(k)' holds a bad xxh3 '\(h)'") }
                return FileRecord(path: try relPath(r["path"], k), size: try int("\(k).size", r["size"]), xxh3: h)
            }
        }
        guard json["format"]?.stringValue == formatTag, json["version"]?.intValue == version else {
            throw fail("not a version-\(version) '\(formatTag)' manifest")
        }
        guard let conversion = Conversion(rawValue: try string("conversion")) else { throw fail("unknown conversion") }
        let nodes = try int("nodes", json["nodes"]), node = try int("node", json["node"])
        guard nodes >= 1, nodes <= NodeIdentity.maxCount, node < nodes else { throw fail("node \(node) of \(nodes) is out of range") }
        guard let overwrite = json["overwrite"]?.boolValue else { throw fail("'overwrite' is missing") }
        let plan = try array("plan").map { p in
            PlannedFile(path: try relPath(p["path"], "plan"), size: try int("plan.size", p["size"]), node: try int("plan.node", p["node"]))
        }
        var m = NodeManifest(conversion: conversion, node: node, nodes: nodes, overwrite: overwrite,
                             inputs: try array("inputs").map { guard let s = $0.stringValue else { throw fail("'inputs' holds a non-string") }; return s },
                             plan: plan, written: try records("written"), others: try records("others"),
                             command: try array("command").compactMap(\.stringValue), origin: try string("origin"), host: try string("host"))
        if json["integrity_folders"] != nil { m.integrityFolders = try array("integrity_folders").map { try relPath($0, "integrity_folders") } }
        guard plan.allSatisfy({ $0.node < nodes }), Set(plan.map(\.path)).count == plan.count else { throw fail("the plan names a node out of range or a file twice") }
        let mine = m.planned(for: node)
        guard m.written.map(\.path) == mine.map(\.path), zip(m.written, mine).allSatisfy({ $0.size == $1.size }) else {
            throw fail("the files written are not the node's planned files")
        }
        guard Set(m.others.map(\.path)).count == m.others.count, Set(m.others.map(\.path)).isDisjoint(with: plan.map(\.path)) else {
            throw fail("the other files repeat a path")
        }
        guard try string("fingerprint") == m.fingerprint else { throw fail("its fingerprint does not match its content (edited or damaged)") }
        return m
    }
}

import TensorCore

/// A Hugging Face checkpoint: one safetensors file, or a folder of shards with or without
/// `model.safetensors.index.json`.
///
/// Shard selection policy: when the index exists it is authoritative. Its shard names must be plain
/// relative names ending in `.safetensors` (no `..`, no absolute paths); every tensor it lists must be
/// in the shard it names; every tensor in a listed shard must be listed; and no tensor may sit in two
/// shards. Without an index, the folder's `model*.safetensors` files are read, and a tensor name found
/// in two of them is an error. Nothing is guessed and nothing is skipped.
public final class SafeTensorsCheckpoint {
    public static let indexFileName = "model.safetensors.index.json"

    /// The folder (or the single file's folder).
    public let directory: String
    /// The shard files in name order.
    public let files: [SafeTensorsFile]
    /// Whether the tensors came through an index file.
    public let indexed: Bool
    private let location: [String: (file: Int, entry: SafeTensorsEntry)]
    /// All tensor names, sorted.
    public let names: [String]

    /// Opens a file or folder.
    public init(path: String) throws {
        if FileSystem.isFile(path) {
            guard path.hasSuffix(".safetensors") else {
                throw SafeTensorsError(.noWeights, "not a .safetensors file", file: path,
                                       hint: "pass a .safetensors file or a folder of them")
            }
            directory = FileSystem.dirname(path)
            files = [try SafeTensorsFile(path: path)]
            indexed = false
        } else if FileSystem.isDirectory(path) {
            directory = path
            let indexPath = FileSystem.join(path, Self.indexFileName)
            if FileSystem.isFile(indexPath) {
                let shards = try Self.readIndex(indexPath)
                files = try shards.shardNames.map { try SafeTensorsFile(path: FileSystem.join(path, $0)) }
                indexed = true
                try Self.checkIndex(shards, files: files, indexPath: indexPath)
            } else {
                let names = try FileSystem.list(path).filter { $0.hasPrefix("model") && $0.hasSuffix(".safetensors") }
                guard !names.isEmpty else {
                    throw SafeTensorsError(.noWeights, "no model*.safetensors files and no \(Self.indexFileName)", file: path,
                                           hint: "point at a Hugging Face checkpoint folder")
                }
                files = try names.map { try SafeTensorsFile(path: FileSystem.join(path, $0)) }
                indexed = false
            }
        } else {
            throw SafeTensorsError(.io, "no such file or folder", file: path)
        }
        var loc = [String: (Int, SafeTensorsEntry)]()
        for (fi, f) in files.enumerated() {
            for e in f.header.entries {
                if let prev = loc[e.name] {
                    throw SafeTensorsError(.duplicateKey, "tensor is stored in two shards (\(FileSystem.basename(files[prev.0].path)) and \(FileSystem.basename(f.path)))",
                                           file: f.path, key: e.name, hint: "remove the stale shard")
                }
                loc[e.name] = (fi, e)
            }
        }
        location = loc
        names = loc.keys.sorted()
    }

    /// The shard list and tensor→shard map of an index file.
    public struct Index {
        public var weightMap: [(String, String)]
        public var totalSize: Int?
        public var shardNames: [String] { Array(Set(weightMap.map(\.1))).sorted() }
    }

    public static func readIndex(_ indexPath: String) throws -> Index {
        let bytes: [UInt8]
        do { bytes = try readWholeFile(indexPath) } catch let e as TensorCoreError {
            throw SafeTensorsError(.io, e.summary, file: indexPath)
        }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch let e as JSONParseError {
            throw SafeTensorsError(.invalidIndex, "index is not valid JSON: \(e.message)", file: indexPath, byteOffset: e.offset)
        }
        guard let wm = json["weight_map"]?.objectMembers else {
            throw SafeTensorsError(.invalidIndex, "index has no weight_map object", file: indexPath,
                                   hint: "an index needs {\"metadata\": {...}, \"weight_map\": {tensor: file}}")
        }
        var seen = Set<String>()
        var map = [(String, String)]()
        for (name, v) in wm {
            guard seen.insert(name).inserted else {
                throw SafeTensorsError(.duplicateKey, "tensor listed twice in the index", file: indexPath, key: name)
            }
            guard let shard = v.stringValue else {
                throw SafeTensorsError(.invalidIndex, "shard name is not a string", file: indexPath, key: name)
            }
            try validateShardName(shard, indexPath: indexPath, key: name)
            map.append((name, shard))
        }
        var total: Int?
        if let t = json["metadata"]?["total_size"] {
            // transformers writes an integer (some tools a float like 1.6e10); a negative or fractional one is damage.
            guard let n = t.intValue ?? t.doubleValue.flatMap({ $0 >= 0 && $0 == $0.rounded() && $0 < 9e18 ? Int($0) : nil }), n >= 0 else {
                throw SafeTensorsError(.invalidIndex, "metadata.total_size is \(JSONWriter.write(t, pretty: false)), not a byte count",
                                       file: indexPath, key: "metadata.total_size", hint: "fix or remove metadata.total_size")
            }
            total = n
        }
        return Index(weightMap: map, totalSize: total)
    }

    /// Shard names must stay inside the folder and be safetensors files.
    public static func validateShardName(_ shard: String, indexPath: String, key: String) throws {
        guard FileSystem.isContainedRelativePath(shard), shard.hasSuffix(".safetensors") else {
            throw SafeTensorsError(.invalidIndex, "bad shard name '\(shard)': must be a relative path ending in .safetensors, without '..'",
                                   file: indexPath, key: key, hint: "fix the weight_map entry")
        }
    }

    private static func checkIndex(_ index: Index, files: [SafeTensorsFile], indexPath: String) throws {
        var byName = [String: SafeTensorsFile]()
        for f in files { byName[FileSystem.basename(f.path)] = f }
        // Files may live in sub-folders; key by the relative name used in the index.
        for s in index.shardNames { byName[s] = files.first { $0.path.hasSuffix("/" + s) } }
        var listed = Set<String>()
        for (name, shard) in index.weightMap {
            listed.insert(name)
            guard let f = byName[shard], f.entry(name) != nil else {
                throw SafeTensorsError(.invalidIndex, "index says this tensor is in \(shard), but it is not there",
                                       file: indexPath, key: name, hint: "the index and the shards disagree; re-save the checkpoint")
            }
        }
        for f in files {
            for e in f.header.entries where !listed.contains(e.name) {
                throw SafeTensorsError(.invalidIndex, "tensor is in a shard but missing from the index",
                                       file: f.path, key: e.name, hint: "the index and the shards disagree; re-save the checkpoint")
            }
        }
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    public func entry(_ name: String) -> SafeTensorsEntry? { location[name]?.entry }

    /// The file a tensor lives in.
    public func file(of name: String) -> SafeTensorsFile? { location[name].map { files[$0.file] } }

    /// A lazy view of one tensor.
    public func tensor(_ name: String) throws -> ContiguousTensor {
        guard let (fi, e) = location[name] else {
            throw SafeTensorsError(.tensorNotFound, "no tensor of that name in the checkpoint", file: directory, key: name)
        }
        return files[fi].view(e)
    }

    /// Total bytes of tensor data.
    public var totalTensorBytes: Int { location.values.reduce(0) { $0 + $1.entry.byteCount } }
}

import SafeTensors
import TensorCore

/// A checkpoint of any supported format seen as named global tensors: what `inspect` lists and `diff`
/// compares. Megatron checkpoints are seen through their storage keys (global shapes, chunks reassembled).
public final class TensorCatalog {
    public struct Entry {
        public var name: String
        public var source: TensorSource
        /// Where the bytes are: a file name, or "N chunks in M files".
        public var location: String
        public var dtype: DType { source.dtype }
        public var shape: [Int] { source.shape }
    }

    public let path: String
    public let format: CheckpointFormat
    /// Entries in natural name order.
    public let entries: [Entry]
    /// Format-specific facts for `inspect` (iteration, metadata.json, byte items, ...).
    public let notes: [(String, String)]
    private let index: [String: Int]

    public init(path: String, format: CheckpointFormat, entries: [Entry], notes: [(String, String)] = []) {
        self.path = path
        self.format = format
        self.entries = entries.sorted { naturalLess($0.name, $1.name) }
        self.notes = notes
        index = Dictionary(self.entries.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
    }

    public var totalBytes: Int { entries.reduce(0) { $0 + $1.source.byteCount } }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Opens any supported checkpoint.
    public static func open(_ path: String) throws -> TensorCatalog {
        let format = try CheckpointFormat.detect(path)
        return try BridgeError.during("cannot open \(path) as a \(format.rawValue) checkpoint") { try open(path, as: format) }
    }

    static func open(_ path: String, as format: CheckpointFormat) throws -> TensorCatalog {
        switch format {
        case .safetensors:
            let ckpt = try SafeTensorsCheckpoint(path: path)
            let entries = try ckpt.names.map { n in
                Entry(name: n, source: try ckpt.tensor(n), location: FileSystem.basename(ckpt.file(of: n)!.path))
            }
            var notes: [(String, String)] = [("shards", "\(ckpt.files.count)"), ("index", ckpt.indexed ? "yes" : "no")]
            if let m = ckpt.files.first?.header.metadata { notes.append(("metadata", m.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))) }
            return TensorCatalog(path: path, format: format, entries: entries, notes: notes)
        default:
            return try openTorchFormat(path, format: format)
        }
    }
}

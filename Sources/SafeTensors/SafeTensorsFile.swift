import TensorCore

/// One safetensors file, mapped and validated. Tensors are lazy views into the mapping.
public final class SafeTensorsFile {
    public let path: String
    public let header: SafeTensorsHeader
    public let mapping: MappedFile
    private let index: [String: Int]

    /// Maps `path` and validates its header. Only the header is read; tensor bytes stay on disk until used.
    public init(path: String) throws {
        self.path = path
        do {
            mapping = try MappedFile(path: path)
        } catch let e as TensorCoreError {
            throw SafeTensorsError(.io, e.summary, file: path, hint: e.hint)
        }
        let all = try mapping.bytes(at: 0, count: mapping.size)
        header = try SafeTensorsHeader.parse(all, path: path)
        var idx = [String: Int]()
        for (i, e) in header.entries.enumerated() { idx[e.name] = i }
        index = idx
    }

    public var names: [String] { header.entries.map(\.name) }

    public func entry(_ name: String) -> SafeTensorsEntry? { index[name].map { header.entries[$0] } }

    /// The absolute byte offset of a tensor's data in the file.
    public func fileOffset(of e: SafeTensorsEntry) -> Int { header.dataStart + e.dataOffsets.begin }

    /// A lazy view of one tensor.
    public func tensor(_ name: String) throws -> ContiguousTensor {
        guard let e = entry(name) else {
            throw SafeTensorsError(.tensorNotFound, "no tensor of that name in the file", file: path, key: name)
        }
        return view(e)
    }

    func view(_ e: SafeTensorsEntry) -> ContiguousTensor {
        let base = mapping.base.map { $0 + fileOffset(of: e) }
        return ContiguousTensor(dtype: e.dtype, shape: e.shape, base: e.byteCount > 0 ? base : nil, owner: mapping)
    }
}

import Foundation
import TensorCore

/// A torch.save archive opened for reading: a `.pt` file, or a DCP item inside a `.distcp` file.
///
/// `data.pkl` is decoded by the restricted `PickleReader`; each tensor's storage is resolved to its
/// `data/<key>` record and checked (record size = storage numel × itemsize, the view inside the storage,
/// one dtype per storage) when the file is opened. Tensors are exposed as `ContiguousTensor` views into
/// the mapping, so nothing is copied.
public final class TorchSaveFile {
    public let zip: TorchZipReader
    /// The unpickled `data.pkl`.
    public let root: PickleValue
    /// Every tensor in `root`, in pickle order.
    public let pickledTensors: [PickledTensor]
    /// The file format version record (`3` for current torch).
    public let formatVersion: Int

    public var path: String { zip.file.path }
    public var archiveName: String { zip.archiveName }

    /// - Parameters:
    ///   - offset, length: the archive's region in `file` (a DCP item), default the whole file.
    ///   - key: the DCP key or a name for errors.
    public init(file: MappedFile, offset: Int = 0, length: Int? = nil, key: String? = nil, verifyCRC: Bool = false,
                reader: PickleReader = PickleReader()) throws {
        zip = try TorchZipReader(file: file, offset: offset, length: length, key: key, verifyCRC: verifyCRC)
        let versionEntry = zip.entry("version") ?? zip.entry(".data/version")
        guard let versionEntry else {
            throw TorchFormatsError(.torchSaveInvalid, "the archive has no 'version' record", file: file.path, key: key, byteOffset: offset,
                                    hint: "not a torch.save file")
        }
        let vtext = String(decoding: try zip.bytes(of: versionEntry), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let v = Int(vtext), (1...10).contains(v) else {
            throw TorchFormatsError(.torchSaveInvalid, "unsupported torch.save format version '\(vtext.prefix(20))'", file: file.path,
                                    key: key, byteOffset: zip.fileOffset(of: versionEntry))
        }
        formatVersion = v
        if let bo = zip.entry("byteorder") {
            let text = String(decoding: try zip.bytes(of: bo), as: UTF8.self)
            guard text == "little" else {
                throw TorchFormatsError(.torchSaveInvalid, "byte order '\(text.prefix(20))' is not supported", file: file.path, key: key,
                                        byteOffset: zip.fileOffset(of: bo), hint: "only little-endian archives can be read")
            }
        }
        guard let pkl = zip.entry("data.pkl") else {
            throw TorchFormatsError(.torchSaveInvalid, "the archive has no 'data.pkl' record", file: file.path, key: key, byteOffset: offset)
        }
        do {
            root = try reader.read(try zip.bytes(of: pkl), file: file.path, baseOffset: zip.fileOffset(of: pkl))
        } catch let e as TorchFormatsError {
            throw e.with(key: key)
        }
        var found = [PickledTensor]()
        try Self.collectTensors(root, into: &found, depth: 0)
        pickledTensors = found
        try checkStorages()
    }

    /// Opens a whole `.pt` file.
    public convenience init(path: String, verifyCRC: Bool = false) throws {
        let f: MappedFile
        do { f = try MappedFile(path: path) } catch { throw TorchFormatsError.wrap(error, file: path) }
        try self.init(file: f, verifyCRC: verifyCRC)
    }

    private static func collectTensors(_ v: PickleValue, into out: inout [PickledTensor], depth: Int) throws {
        guard depth < 2000 else { return }  // the reader already bounds depth; this only guards custom readers
        switch v {
        case let .tensor(t): out.append(t)
        case let .list(items), let .tuple(items), let .set(items, _):
            for x in items { try collectTensors(x, into: &out, depth: depth + 1) }
        case let .dict(items):
            for (k, x) in items {
                try collectTensors(k, into: &out, depth: depth + 1)
                try collectTensors(x, into: &out, depth: depth + 1)
            }
        case let .object(o):
            for x in o.args + o.listItems { try collectTensors(x, into: &out, depth: depth + 1) }
            for (k, x) in o.kwargs + o.dictItems {
                try collectTensors(k, into: &out, depth: depth + 1)
                try collectTensors(x, into: &out, depth: depth + 1)
            }
            if let s = o.state { try collectTensors(s, into: &out, depth: depth + 1) }
        case let .persistentID(p): try collectTensors(p, into: &out, depth: depth + 1)
        default: break
        }
    }

    private func error(_ code: TorchFormatsError.Code, _ message: String, at offset: Int? = nil, hint: String? = nil) -> TorchFormatsError {
        TorchFormatsError(code, message, file: path, key: zip.key, byteOffset: offset ?? zip.baseOffset, hint: hint)
    }

    /// Every storage: its record exists with exactly numel × itemsize bytes, one element type per
    /// storage, and every tensor view lies inside its storage.
    private func checkStorages() throws {
        var seen = [String: PickledTensor.Storage]()
        for t in pickledTensors {
            let s = t.storage
            if let prev = seen[s.key] {
                guard prev == s else {
                    throw error(.torchSaveInvalid, "storage '\(s.key)' is described two ways (\(prev.className) × \(prev.numel), \(s.className) × \(s.numel))")
                }
                continue
            }
            seen[s.key] = s
            guard let rec = zip.entry("data/\(s.key)") else {
                throw error(.torchSaveInvalid, "tensor storage '\(s.key)' has no record data/\(s.key)")
            }
            guard let bytes = s.byteCount, bytes == rec.size else {
                throw error(.torchSaveInvalid, "record data/\(s.key) holds \(rec.size) bytes but its \(s.className) of \(s.numel) elements needs \(s.byteCount.map(String.init) ?? "too many")",
                            at: zip.fileOffset(of: rec), hint: "the archive is truncated or corrupt")
            }
        }
        for t in pickledTensors { try checkView(t) }
    }

    private func checkView(_ t: PickledTensor) throws {
        guard let es = t.dtype.byteSize else { throw error(.tensorUnsupported, "tensors of \(t.dtype) cannot be read") }
        guard let storageBytes = t.storage.byteCount else { throw error(.torchSaveInvalid, "storage '\(t.storage.key)' is too large") }
        guard t.size.count == t.stride.count else { throw error(.torchSaveInvalid, "tensor size and stride have different ranks") }
        if t.size.contains(0) { return }
        var last = t.storageOffset
        for (n, s) in Swift.zip(t.size, t.stride) {
            let (m, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(m)
            guard !o1, !o2 else { throw error(.torchSaveInvalid, "tensor view of storage '\(t.storage.key)' overflows") }
            last = sum
        }
        let (endBytes, o) = (last + 1).multipliedReportingOverflow(by: es)
        guard !o, endBytes <= storageBytes else {
            throw error(.torchSaveInvalid, "tensor \(Shape.describe(t.size)) at offset \(t.storageOffset) reaches past the end of its \(storageBytes)-byte storage '\(t.storage.key)'")
        }
    }

    /// The bytes of storage record `data/<key>`.
    public func storageBytes(_ key: String) throws -> UnsafeRawBufferPointer { try zip.data("data/\(key)") }

    /// A tensor of this archive as a view into the mapped file.
    /// - Throws: `tensorUnsupported` for non-contiguous strides (torch.save of a transposed view).
    public func contiguousTensor(_ t: PickledTensor, name: String? = nil) throws -> ContiguousTensor {
        guard t.isContiguous else {
            throw TorchFormatsError(.tensorUnsupported, "tensor \(Shape.describe(t.size)) has non-contiguous strides \(Shape.describe(t.stride))",
                                    file: path, key: name ?? zip.key, byteOffset: zip.baseOffset,
                                    hint: "save a contiguous copy (tensor.contiguous()) and convert again")
        }
        guard let es = t.dtype.byteSize else {
            throw TorchFormatsError(.tensorUnsupported, "tensors of \(t.dtype) cannot be read", file: path, key: name ?? zip.key)
        }
        let storage = try storageBytes(t.storage.key)
        let base = storage.baseAddress.map { $0 + t.storageOffset * es }
        return ContiguousTensor(dtype: t.dtype, shape: t.size, base: base, owner: zip.file)
    }

    /// The value at a path of string keys from the root (`["model"]`), nil when absent.
    public func value(at keyPath: [String]) -> PickleValue? {
        var v = root
        for k in keyPath {
            guard let next = v.dictValue(for: k) else { return nil }
            v = next
        }
        return v
    }

    /// The state dict at `keyPath`: tensors as views, other entries (`_extra_state`, …) as values.
    /// Nested dicts are flattened with `.`-joined keys.
    public func stateDict(at keyPath: [String] = []) throws -> TorchStateDict {
        guard let v = value(at: keyPath) else {
            throw TorchFormatsError(.notFound, "no dict at \(keyPath.isEmpty ? "the root" : keyPath.joined(separator: "/"))", file: path)
        }
        var out = TorchStateDict()
        try flatten(v, prefix: "", into: &out, where: keyPath.joined(separator: "/"), depth: 0)
        return out
    }

    private func flatten(_ v: PickleValue, prefix: String, into out: inout TorchStateDict, where place: String, depth: Int) throws {
        guard let items = v.dictItems, depth < 100 else {
            throw TorchFormatsError(.torchSaveInvalid, "\(place.isEmpty ? "the root" : place) is a \(v.kindDescription), not a state dict", file: path)
        }
        for (k, x) in items {
            guard let name = k.stringValue else {
                throw TorchFormatsError(.torchSaveInvalid, "state dict key \(k.kindDescription) is not a string", file: path, key: prefix)
            }
            let full = prefix + name
            guard out.tensors[full] == nil, out.others[full] == nil else {
                throw TorchFormatsError(.torchSaveInvalid, "state dict key appears twice", file: path, key: full)
            }
            if case let .tensor(t) = x {
                out.tensors[full] = try contiguousTensor(t, name: full)
                out.order.append(full)
            } else if x.dictItems != nil {
                try flatten(x, prefix: full + ".", into: &out, where: place, depth: depth + 1)
            } else {
                out.others[full] = x
                out.order.append(full)
            }
        }
    }
}

/// A flattened state dict read from a torch.save archive.
public struct TorchStateDict {
    /// Tensors by key, as views into the mapped file.
    public var tensors: [String: ContiguousTensor] = [:]
    /// Entries that are not tensors (`_extra_state` values, numbers, strings, …).
    public var others: [String: PickleValue] = [:]
    /// Every key in file order.
    public var order: [String] = []
}

import TensorCore

extension DCPMetadata {
    static let module = "torch.distributed.checkpoint.metadata"
    static let acceptedClasses: Set<String> = [
        "torch.distributed.checkpoint.metadata.Metadata",
        "megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata",
    ]
    /// State fields of `Metadata` (torch 2.5–2.13) and what MCore adds; the last two are not needed to read.
    static let knownFields: Set<String> = [
        "state_dict_metadata", "planner_data", "storage_data", "storage_meta", "version", "all_local_plans", "mcore_data",
    ]

    /// Parses an unpickled `.metadata`. Every field is checked; anything unexpected is an error naming
    /// the key (`file` is used in errors).
    public init(pickle root: PickleValue, file: String? = nil) throws {
        let p = DCPMetadataParser(file: file)
        let (cls, state) = try p.object(root, accepting: Self.acceptedClasses, what: "the checkpoint metadata")
        for (k, _) in state where !Self.knownFields.contains(k) {
            throw p.fail("unknown Metadata field '\(k)'", hint: "written by a newer torch? update CheckpointBridge")
        }
        func field(_ name: String) -> PickleValue? { state.last(where: { $0.0 == name })?.1 }
        guard let sdm = field("state_dict_metadata") else { throw p.fail("Metadata has no state_dict_metadata") }
        guard let sd = field("storage_data") else { throw p.fail("Metadata has no storage_data") }
        let entries = try p.entries(sdm)
        let storage = try p.storage(sd)
        var meta: StorageMeta?
        if let sm = field("storage_meta"), !sm.isNone { meta = try p.storageMeta(sm) }
        var version: String?
        if let v = field("version"), !v.isNone {
            guard let s = v.stringValue else { throw p.fail("Metadata version is a \(v.kindDescription), not a string") }
            version = s
        }
        self.init(className: cls, entries: entries, storage: storage, storageMeta: meta, version: version)
        try p.crossCheck(self)
    }

    /// Reads and parses a `.metadata` file.
    public init(path: String, reader: PickleReader = PickleReader()) throws {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw TorchFormatsError.wrap(error, file: path) }
        let value = try reader.read(try file.bytes(at: 0, count: file.size), file: path)
        try self.init(pickle: value, file: path)
    }
}

/// The field-by-field decoding of `.metadata`'s dataclasses.
struct DCPMetadataParser {
    let file: String?

    func fail(_ message: String, key: String? = nil, hint: String? = nil) -> TorchFormatsError {
        TorchFormatsError(.dcpInvalid, message, file: file, key: key, hint: hint ?? "the checkpoint metadata is corrupt")
    }

    /// An object of one of `classes` whose state is a string-keyed dict (dataclass pickling).
    func object(_ v: PickleValue, accepting classes: Set<String>, what: String, key: String? = nil) throws -> (String, [(String, PickleValue)]) {
        guard let o = v.objectValue, classes.contains(o.qualifiedName) else {
            throw fail("\(what) is a \(v.kindDescription), expected \(classes.sorted().joined(separator: " or "))", key: key)
        }
        guard o.args.isEmpty, o.listItems.isEmpty, o.dictItems.isEmpty else {
            throw fail("\(o.qualifiedName) was built with unexpected arguments", key: key)
        }
        guard let state = o.state else { return (o.qualifiedName, []) }
        guard let items = state.stringKeyedItems else {
            throw fail("\(o.qualifiedName) state is a \(state.kindDescription), expected a dict of fields", key: key)
        }
        return (o.qualifiedName, items)
    }

    private func cls(_ name: String) -> Set<String> { ["\(DCPMetadata.module).\(name)"] }

    private func ints(_ v: PickleValue?, _ what: String, key: String?) throws -> [Int] {
        guard let v, let a = v.intArray, a.allSatisfy({ $0 >= 0 }) else {
            throw fail("\(what) must be a torch.Size of non-negative ints, found \(v?.kindDescription ?? "nothing")", key: key)
        }
        return a
    }

    private func get(_ state: [(String, PickleValue)], _ name: String) -> PickleValue? { state.last(where: { $0.0 == name })?.1 }

    func entries(_ v: PickleValue) throws -> [(key: String, entry: DCPMetadata.Entry)] {
        guard let items = v.stringKeyedItems else { throw fail("state_dict_metadata is a \(v.kindDescription), not a dict of keys") }
        var out = [(key: String, entry: DCPMetadata.Entry)]()
        out.reserveCapacity(items.count)
        var seen = Set<String>()
        for (key, m) in items {
            guard seen.insert(key).inserted else { throw fail("key listed twice", key: key) }
            guard let o = m.objectValue else { throw fail("metadata is a \(m.kindDescription)", key: key) }
            switch o.qualifiedName {
            case "\(DCPMetadata.module).BytesStorageMetadata":
                let (_, st) = try object(m, accepting: cls("BytesStorageMetadata"), what: "byte item metadata", key: key)
                guard st.isEmpty else { throw fail("BytesStorageMetadata has unexpected fields", key: key) }
                out.append((key, .bytes))
            case "\(DCPMetadata.module).TensorStorageMetadata":
                out.append((key, .tensor(try tensorEntry(m, key: key))))
            default:
                throw fail("unknown storage metadata class \(o.qualifiedName)", key: key)
            }
        }
        return out
    }

    private func tensorEntry(_ v: PickleValue, key: String) throws -> DCPMetadata.TensorEntry {
        let (_, st) = try object(v, accepting: cls("TensorStorageMetadata"), what: "tensor metadata", key: key)
        for (k, _) in st where !["properties", "size", "chunks"].contains(k) {
            throw fail("unknown TensorStorageMetadata field '\(k)'", key: key)
        }
        guard let pv = get(st, "properties") else { throw fail("tensor metadata has no properties", key: key) }
        let props = try properties(pv, key: key)
        let size = try ints(get(st, "size"), "size", key: key)
        guard let chunkList = get(st, "chunks")?.listValue else { throw fail("tensor metadata has no chunk list", key: key) }
        var chunks = [Box]()
        chunks.reserveCapacity(chunkList.count)
        for c in chunkList {
            let (_, cs) = try object(c, accepting: cls("ChunkStorageMetadata"), what: "a chunk", key: key)
            let offsets = try ints(get(cs, "offsets"), "chunk offsets", key: key)
            let sizes = try ints(get(cs, "sizes"), "chunk sizes", key: key)
            guard offsets.count == size.count, sizes.count == size.count, cs.count == 2 else {
                throw fail("chunk \(Shape.describe(offsets))+\(Shape.describe(sizes)) does not match the tensor's rank \(size.count)", key: key)
            }
            chunks.append(Box(offsets: offsets, sizes: sizes))
        }
        return DCPMetadata.TensorEntry(properties: props, size: size, chunks: chunks)
    }

    /// `TensorProperties`: the 5-tuple state of torch ≥ 2.x, or the plain dataclass dict of older torch.
    private func properties(_ v: PickleValue, key: String) throws -> DCPMetadata.TensorProperties {
        guard let o = v.objectValue, o.qualifiedName == "\(DCPMetadata.module).TensorProperties", o.args.isEmpty else {
            throw fail("tensor properties are a \(v.kindDescription)", key: key)
        }
        var dtype: PickleValue?, layout: PickleValue?, rg: PickleValue?, mf: PickleValue?, pin: PickleValue?
        if let t = o.state?.tupleValue, t.count == 5 {
            (dtype, layout, rg, mf, pin) = (t[0], t[1], t[2], t[3], t[4])
        } else if let d = o.state?.stringKeyedItems {
            func g(_ n: String) -> PickleValue? { d.last(where: { $0.0 == n })?.1 }
            (dtype, layout, rg, mf, pin) = (g("dtype"), g("layout"), g("requires_grad"), g("memory_format"), g("pin_memory"))
        } else {
            throw fail("tensor properties have an unexpected state", key: key)
        }
        guard case let .global("torch", dn)? = dtype else { throw fail("tensor dtype is not a torch dtype", key: key) }
        guard let dt = TorchDTypes.byTorchName[dn] else {
            throw TorchFormatsError(.tensorUnsupported, "dtype torch.\(dn) is not supported", file: file, key: key)
        }
        let layoutName: String
        switch layout {
        case let .object(lo)? where lo.qualifiedName == "torch.serialization._get_layout" && lo.args.count == 1:
            guard let s = lo.args[0].stringValue else { throw fail("tensor layout is malformed", key: key) }
            layoutName = s
        case let .global("torch", n)?:
            layoutName = "torch.\(n)"
        default:
            throw fail("tensor layout is a \(layout?.kindDescription ?? "missing value")", key: key)
        }
        guard layoutName == "torch.strided" else {
            throw TorchFormatsError(.tensorUnsupported, "tensor layout \(layoutName) is not supported", file: file, key: key,
                                    hint: "only dense (strided) tensors can be read")
        }
        guard let requiresGrad = rg?.boolValue, let pinMemory = pin?.boolValue else {
            throw fail("tensor properties requires_grad / pin_memory are not bools", key: key)
        }
        var memoryFormat = 0
        switch mf {
        case let .object(e)? where e.qualifiedName == "\(DCPMetadata.module)._MEM_FORMAT_ENCODING" && e.args.count == 1:
            guard let i = e.args[0].intValue else { throw fail("memory format is malformed", key: key) }
            memoryFormat = i
        case .global("torch", "contiguous_format")?: memoryFormat = 0
        case .global("torch", "channels_last")?: memoryFormat = 1
        case .global("torch", "preserve_format")?: memoryFormat = 2
        default:
            throw fail("memory format is a \(mf?.kindDescription ?? "missing value")", key: key)
        }
        return DCPMetadata.TensorProperties(dtype: dt, layout: layoutName, requiresGrad: requiresGrad, memoryFormat: memoryFormat,
                                            pinMemory: pinMemory)
    }

    func storage(_ v: PickleValue) throws -> [(index: DCPMetadata.StorageIndex, info: DCPMetadata.StorageInfo)] {
        guard let items = v.dictItems else { throw fail("storage_data is a \(v.kindDescription), not a dict") }
        var out = [(index: DCPMetadata.StorageIndex, info: DCPMetadata.StorageInfo)]()
        out.reserveCapacity(items.count)
        var seen = Set<DCPMetadata.StorageIndex>()
        for (k, x) in items {
            let (_, ks) = try object(k, accepting: cls("MetadataIndex"), what: "a storage index")
            guard let fqn = get(ks, "fqn")?.stringValue else { throw fail("storage index has no fqn") }
            for (name, _) in ks where !["fqn", "offset", "index"].contains(name) {
                throw fail("unknown MetadataIndex field '\(name)'", key: fqn)
            }
            var offset: [Int]?
            if let o = get(ks, "offset"), !o.isNone { offset = try ints(o, "storage index offset", key: fqn) }
            if let i = get(ks, "index"), !i.isNone, i.intValue == nil { throw fail("storage index hint is not an int", key: fqn) }
            let index = DCPMetadata.StorageIndex(fqn: fqn, offset: offset)
            guard seen.insert(index).inserted else { throw fail("storage location listed twice for \(index)", key: fqn) }
            out.append((index, try storageInfo(x, key: fqn)))
        }
        return out
    }

    private func storageInfo(_ v: PickleValue, key: String) throws -> DCPMetadata.StorageInfo {
        let (_, st) = try object(v, accepting: ["torch.distributed.checkpoint.filesystem._StorageInfo"], what: "a storage location", key: key)
        for (name, value) in st {
            switch name {
            case "relative_path", "offset", "length": break
            case "transform_descriptors":
                if !value.isNone && value.sequenceValue?.isEmpty != true {
                    throw TorchFormatsError(.dcpUnsupported, "item is stored with transforms (\(value.sequenceValue?.compactMap(\.stringValue).joined(separator: ", ") ?? value.kindDescription))",
                                            file: file, key: key, hint: "DCP stream transforms (compression) are not supported; MCore never writes them")
                }
            default: throw fail("unknown _StorageInfo field '\(name)'", key: key)
            }
        }
        guard let path = get(st, "relative_path")?.stringValue, Self.isPlainFileName(path) else {
            throw fail("storage location has no valid relative_path", key: key, hint: "a relative_path must be a plain file name")
        }
        guard let offset = get(st, "offset")?.intValue, let length = get(st, "length")?.intValue, offset >= 0, length >= 0 else {
            throw fail("storage location has no valid offset and length", key: key)
        }
        return DCPMetadata.StorageInfo(relativePath: path, offset: offset, length: length)
    }

    /// A file name inside the checkpoint folder: no separators, no `..`, not hidden metadata.
    static func isPlainFileName(_ s: String) -> Bool { FileSystem.isContainedRelativePath(s, allowSubfolders: false) }

    func storageMeta(_ v: PickleValue) throws -> DCPMetadata.StorageMeta {
        let (_, st) = try object(v, accepting: cls("StorageMeta"), what: "storage_meta")
        func str(_ n: String) throws -> String? {
            guard let x = get(st, n), !x.isNone else { return nil }
            if let s = x.stringValue { return s }
            // torch records the checkpoint folder as a pathlib path when it was given one.
            if let o = x.objectValue, o.module == "pathlib", o.name.hasSuffix("Path"), o.args.allSatisfy({ $0.stringValue != nil }) {
                let parts = o.args.compactMap(\.stringValue)
                return parts.first == "/" ? "/" + parts.dropFirst().joined(separator: "/") : parts.joined(separator: "/")
            }
            throw fail("StorageMeta.\(n) is a \(x.kindDescription)")
        }
        for (name, _) in st where !["checkpoint_id", "save_id", "load_id", "modules"].contains(name) {
            throw fail("unknown StorageMeta field '\(name)'")
        }
        var modules = [String]()
        if let m = get(st, "modules"), !m.isNone {
            guard let l = m.sequenceValue?.compactMap(\.stringValue), l.count == m.sequenceValue?.count else {
                throw fail("StorageMeta.modules is not a list of strings")
            }
            modules = l
        }
        return DCPMetadata.StorageMeta(checkpointID: try str("checkpoint_id"), saveID: try str("save_id"), loadID: try str("load_id"),
                                       modules: modules)
    }

    /// Every chunk and byte item has exactly one storage location, and every location belongs to one.
    func crossCheck(_ m: DCPMetadata) throws {
        var wanted = Set<DCPMetadata.StorageIndex>()
        for (key, e) in m.entries {
            switch e {
            case .bytes:
                wanted.insert(DCPMetadata.StorageIndex(fqn: key))
            case let .tensor(t):
                for c in t.chunks {
                    guard wanted.insert(DCPMetadata.StorageIndex(fqn: key, offset: c.offsets)).inserted else {
                        throw TorchFormatsError(.dcpTiling, "two chunks start at \(Shape.describe(c.offsets))", file: file, key: key,
                                                hint: "the chunks overlap; the checkpoint is corrupt")
                    }
                }
            }
        }
        let have = Set(m.storage.map(\.index))
        if let missing = wanted.subtracting(have).sorted(by: { $0.description < $1.description }).first {
            throw fail("no storage location for \(missing)", key: missing.fqn)
        }
        if let extra = have.subtracting(wanted).sorted(by: { $0.description < $1.description }).first {
            throw fail("storage location \(extra) belongs to no key or chunk", key: extra.fqn)
        }
    }
}

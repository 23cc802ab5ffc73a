import TensorCore

extension DCPMetadata {
    /// The pickle tree torch would produce for this metadata (dataclasses as `cls.__new__` + BUILD(state),
    /// `TensorProperties` with its 5-tuple state, `MetadataIndex.offset` omitted for byte items), with
    /// `planner_data=None` and `storage_meta=None` unless set (torch replaces None with an empty
    /// `StorageMeta()` on load). The layout is the one in format reference §1.8.
    public func pickleValue() throws -> PickleValue {
        func object(_ name: String, module: String = DCPMetadata.module, state: [(String, PickleValue)]?) -> PickleValue {
            .object(PickleObject(module: module, name: name, construction: .newObj, state: state.map { .stringDict($0) }))
        }
        var sdm = [(String, PickleValue)]()
        sdm.reserveCapacity(entries.count)
        for (key, e) in entries {
            switch e {
            case .bytes:
                sdm.append((key, object("BytesStorageMetadata", state: nil)))
            case let .tensor(t):
                guard let dn = TorchDTypes.torchName(t.properties.dtype) else {
                    throw TorchFormatsError(.invalidPlan, "torch has no dtype for \(t.properties.dtype)", key: key)
                }
                let p = t.properties
                let props = PickleValue.object(PickleObject(
                    module: DCPMetadata.module, name: "TensorProperties", construction: .newObj,
                    state: .tuple([
                        .global(module: "torch", name: dn),
                        .object(PickleObject(module: "torch.serialization", name: "_get_layout", construction: .reduce,
                                             args: [.string(p.layout)])),
                        .bool(p.requiresGrad),
                        .object(PickleObject(module: DCPMetadata.module, name: "_MEM_FORMAT_ENCODING", construction: .reduce,
                                             args: [.int(p.memoryFormat)])),
                        .bool(p.pinMemory),
                    ])))
                let chunks = t.chunks.map { c in
                    object("ChunkStorageMetadata", state: [("offsets", .torchSize(c.offsets)), ("sizes", .torchSize(c.sizes))])
                }
                sdm.append((key, object("TensorStorageMetadata",
                                        state: [("properties", props), ("size", .torchSize(t.size)), ("chunks", .list(chunks))])))
            }
        }
        var sd = [(PickleValue, PickleValue)]()
        sd.reserveCapacity(storage.count)
        for (index, info) in storage {
            var idx: [(String, PickleValue)] = [("fqn", .string(index.fqn)), ("index", .none)]
            if let o = index.offset { idx.append(("offset", .torchSize(o))) }
            sd.append((object("MetadataIndex", state: idx),
                       object("_StorageInfo", module: "torch.distributed.checkpoint.filesystem",
                              state: [("relative_path", .string(info.relativePath)), ("offset", .int(info.offset)),
                                      ("length", .int(info.length))])))
        }
        var meta: PickleValue = .none
        if let m = storageMeta {
            meta = object("StorageMeta", state: [
                ("checkpoint_id", m.checkpointID.map { .string($0) } ?? .none), ("save_id", m.saveID.map { .string($0) } ?? .none),
                ("load_id", m.loadID.map { .string($0) } ?? .none), ("modules", .list(m.modules.map { .string($0) })),
            ])
        }
        var state: [(String, PickleValue)] = [
            ("state_dict_metadata", .stringDict(sdm)), ("planner_data", .none), ("storage_data", .dict(sd)), ("storage_meta", meta),
        ]
        if let version { state.append(("version", .string(version))) }
        let parts = className.split(separator: ".")
        return .object(PickleObject(module: parts.dropLast().joined(separator: "."), name: String(parts.last ?? ""),
                                    construction: .newObj, state: .stringDict(state)))
    }

    /// The `.metadata` file content: a protocol-2 pickle of `pickleValue()`.
    public func serialized() throws -> [UInt8] { try PickleWriter.serialize(try pickleValue()) }
}

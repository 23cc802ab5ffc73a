import TensorCore

/// The small files around Megatron checkpoints: `metadata.json`, `common.pt`, `_extra_state` payloads and
/// the common-state dict (format reference §1.2, §1.3, §1.6, §4).
public enum MegatronFiles {
    /// `metadata.json` as MCore 0.15–0.18 write it; 0.19 ignores the extra fields, so this loads everywhere.
    public static let defaultMetadataJSON: JSONValue = .object([
        ("sharded_backend", .string("torch_dist")), ("sharded_backend_version", .number("1")),
        ("common_backend", .string("torch")), ("common_backend_version", .number("1")),
    ])

    /// `metadata.json` as megatron-core ≥ 0.19 writes it (`CheckpointingConfig` lost its common backend
    /// fields when the common state moved into the DCP).
    public static let commonStateInDCPMetadataJSON: JSONValue = .object([
        ("sharded_backend", .string("torch_dist")), ("sharded_backend_version", .number("1")),
    ])

    /// The payload of the `common_state/shard_0_1` byte item: a torch.save of the one-element list
    /// `[state]`, as megatron-core ≥ 0.19 saves the ShardedObject `common_state` (torch strategy's
    /// `_mcore_to_torch_sharded_object`, `torch.save([sh_obj.data ...])`).
    public static func commonStateItemPayload(_ state: PickleValue) throws -> [UInt8] {
        try shardedObjectPayload([state])
    }

    /// Writes `metadata.json` into `directory`.
    public static func writeMetadataJSON(_ json: JSONValue = defaultMetadataJSON, directory: String) throws {
        let path = FileSystem.join(directory, TorchDistCheckpoint.configFileName)
        do { try writeWholeFile(path, Array(JSONWriter.write(json, pretty: false).utf8)) } catch {
            throw TorchFormatsError.wrap(error, file: path)
        }
    }

    /// The common state Megatron-LM saves: `{'args': …, 'checkpoint_version': 3.0, 'iteration': N, …extra}`.
    /// `args` (an `argparse.Namespace`, see `PickleValue.namespace`) is left out when nil; keep it to
    /// primitives so `torch.load(weights_only=True)` accepts it once MCore registered Namespace.
    public static func commonState(args: PickleValue?, iteration: Int, extra: [(String, PickleValue)] = []) -> PickleValue {
        var items = [(String, PickleValue)]()
        if let args { items.append(("args", args)) }
        items.append(("checkpoint_version", .float(3.0)))
        items.append(("iteration", .int(iteration)))
        items.append(contentsOf: extra)
        return .stringDict(items)
    }

    /// Writes `common.pt` (a torch.save archive with folder `common`, as torch names it after the file).
    public static func writeCommonPT(_ state: PickleValue, directory: String) throws {
        let path = FileSystem.join(directory, TorchDistCheckpoint.commonFileName)
        let bytes = try TorchSaveWriter.serialize(state, archiveName: "common")
        do { try writeWholeFile(path, bytes) } catch { throw TorchFormatsError.wrap(error, file: path) }
    }

    /// The payload of an `_extra_state` ShardedObject with no state: a torch.save archive of `[None]`.
    public static func extraStatePayload() throws -> [UInt8] {
        try TorchSaveWriter.serialize(.list([.none]))
    }

    /// The byte item payload of any ShardedObject: torch.save of the list of its values on the rank.
    public static func shardedObjectPayload(_ values: [PickleValue]) throws -> [UInt8] {
        try TorchSaveWriter.serialize(.list(values))
    }
}

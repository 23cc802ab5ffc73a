import TensorCore

/// Writes torch.save archives: a `PickleValue` tree whose tensors are `.tensorPayload` leaves becomes
/// `<archive>/data.pkl`, `<archive>/byteorder`, `<archive>/data/0…N`, `<archive>/version` (format
/// reference §2.1–2.3). No `.format_version` record is written, because its presence makes torch compute
/// storage offsets from miniz's data-descriptor layout, which this writer does not copy.
///
/// Tensors are pickled the way torch pickles a contiguous CPU tensor:
/// `torch._utils._rebuild_tensor_v2(persid(('storage', torch.<X>Storage, '<k>', 'cpu', numel)), 0, size,
/// stride, False, OrderedDict())`, or `_rebuild_tensor_v3` with `torch.storage.UntypedStorage` (numel in
/// bytes) and a trailing dtype for dtypes that have no legacy storage class. Storage keys count from 0
/// in order of first appearance; the same payload object appearing twice is stored once.
public enum TorchSaveWriter {
    /// Plans an archive for positional writing (see `TorchSavePlan`).
    public static func plan(_ root: PickleValue, archiveName: String = "archive") throws -> TorchSavePlan {
        var payloads = [TorchTensorPayload]()
        var keys = [ObjectIdentifier: Int]()
        let tree = try replaceTensors(root, payloads: &payloads, keys: &keys, depth: 0)
        let pickle = try PickleWriter.serialize(tree)
        var records: [(name: String, size: Int)] = [("data.pkl", pickle.count), ("byteorder", 6)]
        for (i, p) in payloads.enumerated() { records.append(("data/\(i)", p.byteCount)) }
        records.append(("version", 2))
        let layout = try TorchZipLayout(archiveName: archiveName, records: records)
        return TorchSavePlan(pickle: pickle, layout: layout, payloads: payloads)
    }

    /// The whole archive in memory (for small documents: `[None]` items, common.pt, train state).
    public static func serialize(_ root: PickleValue, archiveName: String = "archive") throws -> [UInt8] {
        try plan(root, archiveName: archiveName).serialize()
    }

    private static func replaceTensors(_ v: PickleValue, payloads: inout [TorchTensorPayload], keys: inout [ObjectIdentifier: Int],
                                       depth: Int) throws -> PickleValue {
        guard depth < 1000 else { throw TorchFormatsError(.pickleWrite, "value nests deeper than 1000 levels") }
        func sub(_ x: PickleValue) throws -> PickleValue { try replaceTensors(x, payloads: &payloads, keys: &keys, depth: depth + 1) }
        func subPairs(_ p: [(PickleValue, PickleValue)]) throws -> [(PickleValue, PickleValue)] { try p.map { (try sub($0.0), try sub($0.1)) } }
        switch v {
        case let .tensorPayload(p):
            let id = ObjectIdentifier(p)
            let key: Int
            if let k = keys[id] {
                key = k
            } else {
                key = payloads.count
                keys[id] = key
                payloads.append(p)
            }
            return try rebuildCall(p, key: String(key))
        case .tensor:
            throw TorchFormatsError(.pickleWrite, "a tensor read from a file cannot be written back directly",
                                    hint: "wrap its bytes in a TorchTensorPayload (TorchSaveFile.contiguousTensor)")
        case let .list(items): return .list(try items.map(sub))
        case let .tuple(items): return .tuple(try items.map(sub))
        case let .dict(items): return .dict(try subPairs(items))
        case let .set(items, frozen): return .set(try items.map(sub), frozen: frozen)
        case let .persistentID(p): return .persistentID(try sub(p))
        case var .object(o):
            o.args = try o.args.map(sub)
            o.kwargs = try subPairs(o.kwargs)
            o.listItems = try o.listItems.map(sub)
            o.dictItems = try subPairs(o.dictItems)
            o.state = try o.state.map(sub)
            return .object(o)
        default:
            return v
        }
    }

    /// The pickled call that rebuilds one stored tensor.
    static func rebuildCall(_ p: TorchTensorPayload, key: String) throws -> PickleValue {
        let size = PickleValue.tuple(p.shape.map { .int($0) })
        let stride = PickleValue.tuple(Shape.rowMajorStrides(p.shape).map { .int($0) })
        if let cls = TorchDTypes.storageClass(p.dtype) {
            let pid = PickleValue.tuple([.string("storage"), .global(module: "torch", name: cls), .string(key), .string("cpu"),
                                         .int(p.elementCount)])
            return .object(PickleObject(module: "torch._utils", name: "_rebuild_tensor_v2", construction: .reduce,
                                        args: [.persistentID(pid), .int(0), size, stride, .bool(false), .orderedDict([])]))
        }
        guard let dname = TorchDTypes.torchName(p.dtype) else {
            throw TorchFormatsError(.pickleWrite, "torch has no dtype for \(p.dtype)")
        }
        let pid = PickleValue.tuple([.string("storage"), .global(module: "torch.storage", name: "UntypedStorage"), .string(key),
                                     .string("cpu"), .int(p.byteCount)])
        return .object(PickleObject(module: "torch._utils", name: "_rebuild_tensor_v3", construction: .reduce,
                                    args: [.persistentID(pid), .int(0), size, stride, .bool(false), .orderedDict([]),
                                           .global(module: "torch", name: dname)]))
    }
}

import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// torch.save documents: our writer against our reader, every dtype, casts, shared storages, views
/// and broken archives; and torch's own files.
@Suite struct TorchSaveTests {
    private func save(_ root: PickleValue, archive: String = "archive", in scratch: ScratchFolder, name: String = "t.pt") throws -> TorchSaveFile {
        let path = scratch.file(name)
        let plan = try TorchSaveWriter.plan(root, archiveName: archive)
        let out = try OutputFile(creating: path, size: plan.totalLength)
        try plan.write(to: out, executor: WriteExecutor(jobs: 2))
        // The streaming path and the in-memory path give the same bytes.
        #expect(try readWholeFile(path) == plan.serialize())
        return try TorchSaveFile(path: path, verifyCRC: true)
    }

    static let dtypes: [DType] = [.f32, .bf16, .f16, .f64, .i64, .i32, .i16, .i8, .u8, .bool, .c64, .u16, .u32, .u64, .f8e4m3, .f8e5m2]

    @Test(arguments: dtypes)
    func everyDTypeRoundTrips(_ dtype: DType) throws {
        let scratch = ScratchFolder("ts")
        let src = ArrayTensor.pattern(dtype, [3, 5, 2], seed: UInt64(dtype.alignmentRank))
        let f = try save(.stringDict([("w", .tensorPayload(try TorchTensorPayload(source: src)))]), in: scratch)
        let t = try #require(f.root["w"]?.tensorValue)
        #expect(t.dtype == dtype)
        #expect(t.size == [3, 5, 2] && t.stride == [10, 2, 1] && t.storageOffset == 0)
        // Legacy storage classes where torch has one, else UntypedStorage + _rebuild_tensor_v3 (§2.3).
        if let cls = TorchDTypes.storageClass(dtype) {
            #expect(t.storage.className == cls && t.storage.numel == 30)
        } else {
            #expect(t.storage.className == "UntypedStorage" && t.storage.numel == 30 * dtype.byteSize!)
        }
        #expect(try f.contiguousTensor(t).readBytes() == src.bytes)
        #expect(f.archiveName == "archive")
        #expect(f.zip.recordNames == ["data.pkl", "byteorder", "data/0", "version"])
        let ops = Set(try PickleOpcodeScan.opcodes(Array(try f.zip.data("data.pkl"))))
        #expect(ops.isSubset(of: PickleOpcodeScan.weightsOnly))
    }

    @Test func scalarsEmptyTensorsAndUnitAxes() throws {
        let scratch = ScratchFolder("ts")
        let scalar = ArrayTensor.pattern(.i64, [])
        let empty = ArrayTensor.pattern(.f32, [0, 4])
        let row = ArrayTensor.pattern(.f32, [16, 8])
        let root = PickleValue.stringDict([
            ("step", .tensorPayload(try TorchTensorPayload(source: scalar))),
            ("empty", .tensorPayload(try TorchTensorPayload(source: empty))),
            ("chunk", .tensorPayload(try TorchTensorPayload(source: row, shape: [1, 16, 8]))),
        ])
        let f = try save(root, in: scratch)
        let sd = try f.stateDict()
        #expect(sd.order == ["step", "empty", "chunk"])
        #expect(sd.tensors["step"]!.shape == [])
        #expect(try sd.tensors["step"]!.readBytes() == scalar.bytes)
        #expect(sd.tensors["empty"]!.shape == [0, 4] && sd.tensors["empty"]!.byteCount == 0)
        // A leading unit axis keeps its full stride, as torch writes it (§3.1: (1,16,8) → (128,8,1)).
        #expect(f.root["chunk"]?.tensorValue?.stride == [128, 8, 1])
        #expect(try sd.tensors["chunk"]!.readBytes() == row.bytes)
    }

    @Test func regionsCastsAndSharedPayloads() throws {
        let scratch = ScratchFolder("ts")
        let src = ArrayTensor.pattern(.f32, [6, 4])
        let region = Box(offsets: [2, 1], sizes: [3, 2])
        let part = try TorchTensorPayload(source: src, box: region)
        let cast = try TorchTensorPayload(source: src, dtype: .bf16)
        let f = try save(.stringDict([("a", .tensorPayload(part)), ("b", .tensorPayload(cast)), ("a2", .tensorPayload(part))]), in: scratch)
        #expect(f.zip.recordNames == ["data.pkl", "byteorder", "data/0", "data/1", "version"])
        let sd = try f.stateDict()
        #expect(try sd.tensors["a"]!.readBytes() == src.readBytes(region))
        #expect(try sd.tensors["a2"]!.readBytes() == src.readBytes(region))
        #expect(sd.tensors["b"]!.dtype == .bf16)
        #expect(try sd.tensors["b"]!.readBytes() == src.readBytes(as: .bf16))
        #expect(throws: TorchFormatsError.self) { try TorchTensorPayload(source: src, dtype: .i32) }
        #expect(throws: TorchFormatsError.self) { try TorchTensorPayload(source: src, shape: [4, 6]) }
        #expect(throws: TorchFormatsError.self) { try TorchTensorPayload(source: src, box: Box(offsets: [5, 0], sizes: [2, 4])) }
    }

    @Test func nestedStateDictsFlatten() throws {
        let scratch = ScratchFolder("ts")
        let w = ArrayTensor.pattern(.bf16, [4, 4])
        let root = LegacyMegatronWriter.rankState(args: .namespace([("num_layers", .int(2))]), iteration: 7, model: [
            ("decoder.layers.0.mlp.linear_fc1.weight", .tensorPayload(try TorchTensorPayload(source: w))),
            ("decoder.layers.0.mlp.linear_fc1._extra_state", .none),
        ])
        let f = try save(root, archive: "model_optim_rng", in: scratch)
        let model = try f.stateDict(at: ["model"])
        #expect(model.order == ["decoder.layers.0.mlp.linear_fc1.weight", "decoder.layers.0.mlp.linear_fc1._extra_state"])
        #expect(model.others["decoder.layers.0.mlp.linear_fc1._extra_state"] == PickleValue.none)
        #expect(try f.stateDict().tensors.keys.sorted() == ["model.decoder.layers.0.mlp.linear_fc1.weight"])
        #expect(f.root["iteration"] == .int(7))
        #expect(f.root["args"]?["num_layers"] == .int(2))
    }

    /// torch pickles `module.state_dict()` as an OrderedDict, its items, then BUILD({'_metadata':
    /// OrderedDict({'': {'version': 1}})}) (observed with torch 2.13 for nn.Linear). Megatron's legacy
    /// `model` entries have that shape; the items and the attribute are both kept.
    @Test func stateDictWithMetadataAttribute() throws {
        let scratch = ScratchFolder("ts")
        let w = ArrayTensor.pattern(.f32, [2, 2]), b = ArrayTensor.pattern(.f32, [2], seed: 9)
        let meta = PickleValue.orderedDict([(.string(""), .stringDict([("version", .int(1))]))])
        let model = PickleValue.object(PickleObject(module: "collections", name: "OrderedDict", construction: .reduce, dictItems: [
            (.string("weight"), .tensorPayload(try TorchTensorPayload(source: w))),
            (.string("bias"), .tensorPayload(try TorchTensorPayload(source: b))),
        ], state: .stringDict([("_metadata", meta)])))
        let f = try save(.stringDict([("model", model)]), in: scratch)
        let m = try #require(f.root["model"])
        #expect(m.isOrderedDictObject)
        #expect(m.dictItems?.map(\.0) == [.string("weight"), .string("bias")])
        #expect(m.objectValue?.state?["_metadata"] == .dict([(.string(""), .stringDict([("version", .int(1))]))]))
        let sd = try f.stateDict(at: ["model"])
        #expect(sd.order == ["weight", "bias"])
        #expect(try sd.tensors["bias"]!.readBytes() == b.bytes)
    }

    /// torch's own train_state.pt (0-dim int and bool tensors, written with data descriptors).
    @Test func readsTorchTrainState() throws {
        let f = try TorchSaveFile(path: try Fixtures.path("qwen3_vl_dense_tiny/bridge06_tp1_ep1/megatron/iter_0000000/train_state.pt"),
                                  verifyCRC: true)
        let sd = try f.stateDict()
        #expect(sd.order == ["step", "consumed_train_samples", "skipped_train_samples", "consumed_valid_samples",
                             "floating_point_operations_so_far", "do_train", "do_valid", "do_test"])
        #expect(sd.tensors.values.allSatisfy { $0.shape == [] })
        #expect(sd.tensors["do_test"]?.dtype == .bool)
        #expect(f.formatVersion == 3)
    }

    // MARK: Broken archives

    /// An archive with a hand-made data.pkl around one 12-element float storage.
    private func archive(pickle: PickleValue, storageBytes: Int = 48, records extra: [(String, [UInt8])] = [],
                         in scratch: ScratchFolder) throws -> String {
        let pkl = try PickleWriter.serialize(pickle)
        var records: [(String, [UInt8])] = [("data.pkl", pkl), ("data/0", [UInt8](repeating: 1, count: storageBytes)),
                                            ("version", Array("3\n".utf8))]
        records.append(contentsOf: extra)
        let layout = try TorchZipLayout(archiveName: "archive", records: records.map { ($0.0, $0.1.count) })
        var out = [UInt8](repeating: 0, count: layout.totalLength)
        for (r, (_, b)) in zip(layout.records, records) { out.replaceSubrange(r.payloadOffset..<(r.payloadOffset + b.count), with: b) }
        for w in layout.headerWrites(crcs: records.map { CRC32.checksum($0.1) }) { out.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes) }
        let p = scratch.file("h-\(UUID().uuidString).pt")
        try writeWholeFile(p, out)
        return p
    }

    private func tensorCall(offset: Int = 0, size: [Int], stride: [Int], numel: Int = 12) -> PickleValue {
        .object(PickleObject(module: "torch._utils", name: "_rebuild_tensor_v2", construction: .reduce, args: [
            .persistentID(.tuple([.string("storage"), .global(module: "torch", name: "FloatStorage"), .string("0"), .string("cpu"), .int(numel)])),
            .int(offset), .tuple(size.map { .int($0) }), .tuple(stride.map { .int($0) }), .bool(false), .orderedDict([]),
        ]))
    }

    @Test func viewsAndStoragesAreChecked() throws {
        let scratch = ScratchFolder("tsbad")
        // A transposed view: opens (it lies inside its storage) but cannot be exposed as contiguous.
        let f = try TorchSaveFile(path: try archive(pickle: tensorCall(size: [3, 4], stride: [1, 3]), in: scratch))
        let t = try #require(f.root.tensorValue)
        #expect(!t.isContiguous)
        #expect(throws: TorchFormatsError.self) { try f.contiguousTensor(t) }
        // A view at an offset is fine when it fits.
        let v = try TorchSaveFile(path: try archive(pickle: tensorCall(offset: 4, size: [2, 4], stride: [4, 1]), in: scratch))
        #expect(try v.contiguousTensor(v.root.tensorValue!).byteCount == 32)
        func refused(_ p: PickleValue, storageBytes: Int = 48, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let path = try archive(pickle: p, storageBytes: storageBytes, in: scratch)
            do {
                _ = try TorchSaveFile(path: path)
                Issue.record("accepted", sourceLocation: sourceLocation)
            } catch let e as TorchFormatsError {
                #expect(e.code == .torchSaveInvalid, "\(e)", sourceLocation: sourceLocation)
                #expect(e.summary.contains(text), "\(e.summary)", sourceLocation: sourceLocation)
                #expect(e.file == path, sourceLocation: sourceLocation)
            }
        }
        try refused(tensorCall(offset: 8, size: [2, 4], stride: [4, 1]), "reaches past the end")
        try refused(tensorCall(size: [3, 4], stride: [4, 1]), storageBytes: 40, "holds 40 bytes")
        try refused(tensorCall(size: [3, 4], stride: [4, 1], numel: Int.max / 2), "too many")
        let missing = PickleValue.object(PickleObject(module: "torch._utils", name: "_rebuild_tensor_v2", construction: .reduce, args: [
            .persistentID(.tuple([.string("storage"), .global(module: "torch", name: "FloatStorage"), .string("9"), .string("cpu"), .int(12)])),
            .int(0), .tuple([.int(12)]), .tuple([.int(1)]), .bool(false), .orderedDict([]),
        ]))
        try refused(missing, "no record data/9")
    }

    @Test func missingRecordsAndBigEndianAreRefused() throws {
        let scratch = ScratchFolder("tsbad")
        let noVersion = try TorchZipLayout(archiveName: "archive", records: [("data.pkl", 3)])
        var out = [UInt8](repeating: 0, count: noVersion.totalLength)
        for w in noVersion.headerWrites(crcs: [0]) { out.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes) }
        try writeWholeFile(scratch.file("nv.pt"), out)
        #expect(throws: TorchFormatsError.self) { try TorchSaveFile(path: scratch.file("nv.pt")) }
        let be = try archive(pickle: .none, records: [("byteorder", Array("big".utf8))], in: scratch)
        do {
            _ = try TorchSaveFile(path: be)
            Issue.record("accepted a big-endian archive")
        } catch let e as TorchFormatsError {
            #expect(e.summary.contains("byte order"))
        }
    }
}

import Foundation
import SafeTensors
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// Every Megatron checkpoint of the fixtures (Megatron-Bridge 0.3.1/0.6.2 and megatron-core 0.16.1,
/// saved by torch 2.13) read without torch and compared with what torch itself reported.
@Suite struct TorchDistReadTests {
    @Test(arguments: FixtureCatalog.all)
    func chunksMatchTheOracleLayout(_ c: FixtureCatalog.Checkpoint) throws {
        let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
        let layout = try FixtureCatalog.layout(c)
        #expect(ckpt.directory.hasSuffix(c.iterationFolder))
        #expect(Set(ckpt.tensorKeys) == Set(layout.tensors.keys))
        #expect(Set(ckpt.byteKeys) == Set(layout.bytes.keys))
        for key in ckpt.tensorKeys {
            let expected = layout.tensors[key]!
            let entry = try ckpt.tensorEntry(key)
            #expect(TorchDTypes.torchName(entry.dtype) == expected.dtype, "\(key)")
            #expect(entry.size == expected.shape, "\(key)")
            let got = try ckpt.chunks(of: key).map {
                FixtureCatalog.Layout.Chunk(offsets: $0.box.offsets, sizes: $0.box.sizes, file: $0.file, byteOffset: $0.offset, byteLength: $0.length)
            }
            #expect(got == expected.chunks, "\(key)")
        }
    }

    @Test(arguments: FixtureCatalog.bridge)
    func globalTensorsEqualTheOracle(_ c: FixtureCatalog.Checkpoint) throws {
        let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
        let oracle = try SafeTensorsCheckpoint(path: try Fixtures.path(c.globalTensors!))
        #expect(Set(ckpt.tensorKeys) == Set(oracle.names))
        for key in ckpt.tensorKeys {
            let mine = try ckpt.tensor(key)
            let theirs = try oracle.tensor(key)
            #expect(mine.dtype == theirs.dtype, "\(key)")
            #expect(mine.shape == theirs.shape, "\(key)")
            #expect(try FixtureCatalog.hash(mine) == FixtureCatalog.hash(theirs), "\(key)")
            #expect(try TensorHashing.xxh3(mine) == TensorHashing.xxh3(theirs), "\(key)")
        }
    }

    @Test(arguments: FixtureCatalog.mcore)
    func mcoreTensorsTileAndLoad(_ c: FixtureCatalog.Checkpoint) throws {
        let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
        #expect(ckpt.iteration == nil)
        try ckpt.validate()
        for key in ckpt.tensorKeys {
            let t = try ckpt.tensor(key)
            #expect(t.tiles.count == (try ckpt.tensorEntry(key)).chunks.count)
            #expect(try t.readFloats().allSatisfy { $0.isFinite }, "\(key)")
        }
    }

    /// TP1 and TP2 runs of the same seeded model: same keys, shapes and dtypes; and since megatron-core
    /// initialises the full weight before splitting it on CPU, the same values.
    @Test func mcoreDenseTP1AndTP2Agree() throws {
        let a = try TorchDistCheckpoint(path: try Fixtures.path("mcore_gpt/dense/tp1_ep1/torch_dist"))
        let b = try TorchDistCheckpoint(path: try Fixtures.path("mcore_gpt/dense/tp2_ep1/torch_dist"))
        #expect(a.tensorKeys == b.tensorKeys)
        var differing = [String]()
        for k in a.tensorKeys {
            let x = try a.tensor(k), y = try b.tensor(k)
            #expect(x.shape == y.shape && x.dtype == y.dtype, "\(k)")
            if try FixtureCatalog.hash(x) != FixtureCatalog.hash(y) { differing.append(k) }
        }
        print("mcore dense tp1 vs tp2: \(a.tensorKeys.count - differing.count) equal keys, differing: \(differing)")
    }

    @Test(arguments: FixtureCatalog.all)
    func byteItemsAndCommonStateUnpickle(_ c: FixtureCatalog.Checkpoint) throws {
        let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
        for key in ckpt.byteKeys where key != TorchDistCheckpoint.commonStateKey {
            #expect(try ckpt.bytesItem(key) == .list([.none]), "\(key)")
            let raw = try ckpt.rawBytes(key)
            #expect(raw.count == (try FixtureCatalog.layout(c)).bytes[key]!.byteLength)
        }
        let common = try #require(try ckpt.commonState)
        if c.globalTensors == nil {
            // megatron-core's own dist_checkpointing.save of a bare model state: an empty common dict.
            #expect(common == .dict([]))
        } else {
            #expect(common["checkpoint_version"] == .float(3.0))
            #expect(common["iteration"] == .int(0))
        }
        let hasCommonPT = FileSystem.isFile(FileSystem.join(ckpt.directory, "common.pt"))
        #expect(hasCommonPT != ckpt.byteKeys.contains(TorchDistCheckpoint.commonStateKey))
        if c.path.contains("bridge06") { #expect(!hasCommonPT) }
    }

    @Test(arguments: FixtureCatalog.bridge)
    func bridgeSideFiles(_ c: FixtureCatalog.Checkpoint) throws {
        let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
        #expect(ckpt.iteration == .number(0))
        #expect(ckpt.metadataJSON?["sharded_backend"] == .string("torch_dist"))
        #expect(ckpt.runConfigYAML?.isEmpty == false)
        let ts = try #require(try ckpt.trainState())
        #expect(ts.archiveName == "train_state")
        let sd = try ts.stateDict()
        #expect(sd.tensors["step"]?.shape == [])
        // Megatron-Bridge 0.3.1 saves int32 counters, 0.6.2 int64 (what torch.load reports for these files).
        #expect(sd.tensors["step"]?.dtype == (c.path.contains("bridge06") ? .i64 : .i32))
        #expect(try sd.tensors["step"]?.readBytes().allSatisfy { $0 == 0 } == true)
        #expect(try sd.tensors["do_train"]?.readBytes() == [0])
        #expect(ckpt.metadata.version == "1.0.0")
        #expect(ckpt.metadata.storageMeta?.checkpointID == "iter_0000000")
    }

    /// megatron-core 0.15 pickled `MCoreMetadata` (a Metadata subclass with `mcore_data`): accepted, and
    /// the extra fields are not needed to read.
    @Test func acceptsMCore015MetadataClass() throws {
        let path = try Fixtures.path("mcore_gpt/dense/tp1_ep1/torch_dist/.metadata")
        guard case var .object(o) = try PickleReader().read(try readWholeFile(path)), case var .dict(state)? = o.state else {
            Issue.record("unexpected metadata")
            return
        }
        o.module = "megatron.core.dist_checkpointing.strategies.torch"
        o.name = "MCoreMetadata"
        state.append((.string("mcore_data"), .stringDict([("decoder.layers.mlp.linear_fc1.weight", .stringDict([]))])))
        o.state = .dict(state)
        let m = try DCPMetadata(pickle: .object(o))
        let plain = try DCPMetadata(path: path)
        #expect(m.className == "megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata")
        #expect(m.entries.map(\.key) == plain.entries.map(\.key))
        // An unknown field is refused.
        state.append((.string("surprise"), .none))
        o.state = .dict(state)
        #expect(throws: TorchFormatsError.self) { try DCPMetadata(pickle: .object(o)) }
    }

    /// torch stores `StorageMeta.checkpoint_id` as a `pathlib.PosixPath` when the save was given a path
    /// object (`PosixPath.__reduce__` = `(PosixPath, ('/', 'a', 'b'))` in Python ≤ 3.11).
    @Test func storageMetaWithPathlibCheckpointID() throws {
        let path = try Fixtures.path("mcore_gpt/dense/tp1_ep1/torch_dist/.metadata")
        guard case var .object(o) = try PickleReader().read(try readWholeFile(path)), case var .dict(state)? = o.state,
              let i = state.firstIndex(where: { $0.0 == .string("storage_meta") }), case var .object(sm) = state[i].1,
              case var .dict(fields)? = sm.state, let j = fields.firstIndex(where: { $0.0 == .string("checkpoint_id") }) else {
            Issue.record("unexpected metadata")
            return
        }
        fields[j].1 = .object(PickleObject(module: "pathlib", name: "PosixPath", construction: .reduce,
                                           args: [.string("/"), .string("ckpt"), .string("iter_0000001")]))
        sm.state = .dict(fields)
        state[i].1 = .object(sm)
        o.state = .dict(state)
        let bytes = try PickleWriter.serialize(.object(o))
        #expect(try DCPMetadata(pickle: try PickleReader().read(bytes)).storageMeta?.checkpointID == "/ckpt/iter_0000001")
    }

    @Test func describesValuesLikePython() throws {
        let v = PickleValue.dict([(.string("a"), .tuple([.int(1)])), (.string("b"), .list([.none, .bool(true), .float(3.0)]))])
        #expect(v.description == "{'a': (1,), 'b': [None, True, 3.0]}")
        let common = try #require(try TorchDistCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/bridge_tp1_ep1/megatron")).commonState)
        #expect(common.description.hasPrefix("{'checkpoint_version': 3.0, 'iteration': 0"))
    }

    @Test func opensIterationFolderAndRootAlike() throws {
        let root = try Fixtures.path("qwen3_vl_dense_tiny/bridge_tp2_ep1/megatron")
        let a = try TorchDistCheckpoint(path: root)
        let b = try TorchDistCheckpoint(path: root + "/iter_0000000")
        #expect(a.directory == b.directory)
        #expect(a.iteration == b.iteration)
    }
}

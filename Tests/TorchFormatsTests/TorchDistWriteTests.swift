import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// The torch_dist writer: fixture checkpoints rewritten (same chunking and new chunking) and read back.
@Suite struct TorchDistWriteTests {
    /// A plan that rewrites `ckpt` with the same chunk boxes, files and byte items.
    static func samePlan(_ ckpt: TorchDistCheckpoint) throws -> TorchDistWritePlan {
        var files = [String: TorchDistWritePlan.FilePlan]()
        for key in ckpt.byteKeys {
            let info = ckpt.metadata.storage.first { $0.index == DCPMetadata.StorageIndex(fqn: key) }!.info
            files[info.relativePath, default: .init(name: info.relativePath)].bytesItems.append(.init(key: key, payload: try ckpt.rawBytes(key)))
        }
        for key in ckpt.tensorKeys {
            let global = try ckpt.tensor(key)
            for loc in try ckpt.chunks(of: key) {
                files[loc.file, default: .init(name: loc.file)].tensorChunks.append(
                    .init(key: key, globalShape: global.shape, dtype: global.dtype, offsets: loc.box.offsets, sizes: loc.box.sizes,
                          source: global, sourceBox: loc.box))
            }
        }
        return TorchDistWritePlan(files: files.keys.sorted().map { files[$0]! })
    }

    @Test(arguments: FixtureCatalog.all)
    func rewriteWithTheSameChunksReadsBackEqual(_ c: FixtureCatalog.Checkpoint) throws {
        let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
        let scratch = ScratchFolder("dcpw")
        let written = try TorchDistWriter.writeFolder(try Self.samePlan(ckpt), into: scratch.path, commonState: try ckpt.commonState,
                                                      executor: WriteExecutor(jobs: 2, budget: 1 << 20))
        let back = try TorchDistCheckpoint(path: scratch.path, verifyCRC: true)
        #expect(back.tensorKeys == ckpt.tensorKeys)
        #expect(back.byteKeys == ckpt.byteKeys)
        #expect(back.metadata.entries.count == written.entries.count)
        func placed(_ c: TorchDistCheckpoint, _ key: String) throws -> [String] {
            try c.chunks(of: key).map { "\($0.box) \($0.file)" }.sorted()
        }
        for key in ckpt.tensorKeys {
            let (x, y) = (try back.tensorEntry(key), try ckpt.tensorEntry(key))
            #expect(x.properties == y.properties && x.size == y.size, "\(key)")
            #expect(try placed(back, key) == placed(ckpt, key), "\(key)")
            #expect(try FixtureCatalog.hash(back.tensor(key)) == FixtureCatalog.hash(ckpt.tensor(key)), "\(key)")
        }
        for key in ckpt.byteKeys { #expect(try back.rawBytes(key) == ckpt.rawBytes(key), "\(key)") }
        #expect(try back.commonState == ckpt.commonState)
        #expect(back.metadataJSON == MegatronFiles.defaultMetadataJSON)
        // Items are packed back to back with byte items first, as torch writes them.
        for name in Set(back.metadata.storage.map(\.info.relativePath)) {
            let items = back.metadata.storage.filter { $0.info.relativePath == name }
            var cursor = 0
            var seenTensor = false
            for (index, info) in items.sorted(by: { $0.info.offset < $1.info.offset }) {
                #expect(info.offset == cursor)
                cursor += info.length
                if index.offset != nil { seenTensor = true } else { #expect(!seenTensor, "byte item after a tensor in \(name)") }
            }
            #expect(cursor == FileSystem.fileSize(FileSystem.join(scratch.path, name)))
        }
    }

    /// Whole tensors in one file, cast to bf16, then re-chunked in rows across two files.
    @Test func rechunkingAndCasting() throws {
        let src = try TorchDistCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/bridge_tp1_ep2/megatron"))
        let scratch = ScratchFolder("dcpw2")
        var whole = TorchDistWritePlan.FilePlan(name: "__0_0.distcp")
        whole.bytesItems = try src.byteKeys.map { .init(key: $0, payload: try MegatronFiles.extraStatePayload()) }
        for key in src.tensorKeys {
            let t = try src.tensor(key)
            whole.tensorChunks.append(.init(key: key, globalShape: t.shape, dtype: .bf16, offsets: t.shape.map { _ in 0 }, sizes: t.shape, source: t))
        }
        let a = FileSystem.join(scratch.path, "a")
        try FileSystem.makeDirectory(a)
        try TorchDistWriter.write(TorchDistWritePlan(files: [whole]), into: a)
        let one = try TorchDistCheckpoint(path: a)
        for key in src.tensorKeys {
            #expect(try one.tensor(key).dtype == .bf16)
            #expect(try one.tensor(key).readBytes() == src.tensor(key).readBytes(as: .bf16), "\(key)")
            #expect(try one.chunks(of: key).count == 1)
        }
        for key in src.byteKeys { #expect(try one.bytesItem(key) == .list([.none])) }
        // Row blocks of the bf16 copy, alternating between two files.
        var files = [TorchDistWritePlan.FilePlan(name: "__0_0.distcp"), TorchDistWritePlan.FilePlan(name: "__1_0.distcp")]
        var n = 0
        for key in one.tensorKeys {
            let t = try one.tensor(key)
            guard let rows = t.shape.first, rows > 1 else {
                files[0].tensorChunks.append(.init(key: key, globalShape: t.shape, dtype: t.dtype, offsets: t.shape.map { _ in 0 }, sizes: t.shape, source: t))
                continue
            }
            var r = 0
            while r < rows {
                let h = Swift.min(rows - r, Swift.max(1, rows / 3))
                let box = Box(shape: t.shape).narrowed(axis: 0, offset: r, size: h)
                files[n % 2].tensorChunks.append(.init(key: key, globalShape: t.shape, dtype: t.dtype, offsets: box.offsets, sizes: box.sizes,
                                                       source: t, sourceBox: box))
                n += 1
                r += h
            }
        }
        let b = FileSystem.join(scratch.path, "b")
        try FileSystem.makeDirectory(b)
        try TorchDistWriter.write(TorchDistWritePlan(files: files), into: b)
        let two = try TorchDistCheckpoint(path: b, verifyCRC: true)
        try two.validate()
        for key in one.tensorKeys {
            #expect(try FixtureCatalog.hash(two.tensor(key)) == FixtureCatalog.hash(one.tensor(key)), "\(key)")
        }
    }

    /// A chunk of a stacked tensor is saved with its leading unit axes, and a source region that drops
    /// them (a rows × cols layer) is accepted.
    @Test func chunkShapesKeepLeadingUnitAxes() throws {
        let scratch = ScratchFolder("dcpw3")
        let layer0 = ArrayTensor.pattern(.f32, [4, 3], seed: 1), layer1 = ArrayTensor.pattern(.f32, [4, 3], seed: 2)
        let plan = TorchDistWritePlan(files: [.init(name: "__0_0.distcp", tensorChunks: [
            .init(key: "decoder.layers.w", globalShape: [2, 4, 3], dtype: .f32, offsets: [0, 0, 0], sizes: [1, 4, 3], source: layer0),
            .init(key: "decoder.layers.w", globalShape: [2, 4, 3], dtype: .f32, offsets: [1, 0, 0], sizes: [1, 4, 3], source: layer1),
        ])])
        try TorchDistWriter.write(plan, into: scratch.path)
        let back = try TorchDistCheckpoint(path: scratch.path)
        #expect(try back.tensor("decoder.layers.w").readBytes() == layer0.bytes + layer1.bytes)
        let loc = try back.chunks(of: "decoder.layers.w")[1]
        let item = try TorchSaveFile(file: try MappedFile(path: scratch.file(loc.file)), offset: loc.offset, length: loc.length)
        #expect(item.root.tensorValue?.size == [1, 4, 3])
        #expect(item.root.tensorValue?.stride == [12, 3, 1])
        #expect(item.archiveName == "archive")
        #expect(back.iteration == nil)
    }

    @Test func foldersTrackersAndCommonPT() throws {
        let scratch = ScratchFolder("dcpw4")
        let iter = FileSystem.join(scratch.path, CheckpointIteration.number(42).folderName)
        #expect(FileSystem.basename(iter) == "iter_0000042")
        try FileSystem.makeDirectory(iter)
        let w = ArrayTensor.pattern(.bf16, [8])
        let common = MegatronFiles.commonState(args: .namespace([("num_layers", .int(1)), ("hidden_size", .int(8))]), iteration: 42)
        try TorchDistWriter.writeFolder(TorchDistWritePlan(files: [.init(name: "__0_0.distcp", bytesItems: [
            .init(key: "decoder.final_layernorm._extra_state/shard_0_1", payload: try MegatronFiles.extraStatePayload()),
        ], tensorChunks: [.init(key: "decoder.final_layernorm.weight", globalShape: [8], dtype: .bf16, offsets: [0], sizes: [8], source: w)])]),
                                        into: iter, commonState: common)
        try MegatronCheckpointRoot.writeTracker(root: scratch.path, iteration: .number(42))
        #expect(String(decoding: try readWholeFile(scratch.file(MegatronCheckpointRoot.trackerFileName)), as: UTF8.self) == "42")
        let back = try TorchDistCheckpoint(path: scratch.path)
        #expect(back.iteration == .number(42))
        #expect(try back.commonState?["iteration"] == .int(42))
        #expect(try back.commonState?["checkpoint_version"] == .float(3.0))
        #expect(try back.commonState?["args"]?["hidden_size"] == .int(8))
        #expect(try TorchSaveFile(path: FileSystem.join(iter, "common.pt")).archiveName == "common")
        #expect(back.metadataJSON?["common_backend"] == .string("torch"))
        #expect(try back.tensor("decoder.final_layernorm.weight").readBytes() == w.bytes)
        // The `[None]` payload: a torch.save archive whose data.pkl is 80 02 ] N a . (§1.6 without the memo).
        let payload = try back.rawBytes("decoder.final_layernorm._extra_state/shard_0_1")
        #expect(payload == (try MegatronFiles.extraStatePayload()))
        #expect(try back.bytesItem("decoder.final_layernorm._extra_state/shard_0_1") == .list([.none]))
        // A release checkpoint.
        #expect(CheckpointIteration(trackerText: " release\n") == .release)
        #expect(CheckpointIteration(trackerText: "x") == nil)
        #expect(CheckpointIteration(folderName: "iter_0000007") == .number(7))
    }

    @Test func badPlansAreRefused() throws {
        let scratch = ScratchFolder("dcpw5")
        let t = ArrayTensor.pattern(.f32, [4, 4])
        func chunk(_ o: [Int], _ s: [Int], key: String = "w", shape: [Int] = [4, 4], dtype: DType = .f32) -> TorchDistWritePlan.TensorChunk {
            .init(key: key, globalShape: shape, dtype: dtype, offsets: o, sizes: s, source: t, sourceBox: Box(offsets: [0, 0], sizes: s))
        }
        func refused(_ files: [TorchDistWritePlan.FilePlan], _ code: TorchFormatsError.Code, _ text: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                try TorchDistWriter.write(TorchDistWritePlan(files: files), into: scratch.path)
                Issue.record("accepted a bad plan", sourceLocation: sourceLocation)
            } catch let e as TorchFormatsError {
                #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
                #expect(text.isEmpty || e.summary.contains(text), "\(e.summary)", sourceLocation: sourceLocation)
            } catch {
                Issue.record("\(error)", sourceLocation: sourceLocation)
            }
        }
        refused([.init(name: "a.distcp", tensorChunks: [chunk([0, 0], [2, 4])])], .dcpTiling, "hole")
        refused([.init(name: "a.distcp", tensorChunks: [chunk([0, 0], [3, 4]), chunk([2, 0], [2, 4])])], .dcpTiling, "overlap")
        refused([.init(name: "a.distcp", tensorChunks: [chunk([0, 0], [2, 4]), chunk([2, 0], [2, 4], shape: [4, 5])])], .invalidPlan, "disagree")
        refused([.init(name: "a.distcp", tensorChunks: [chunk([0, 0], [4, 4], dtype: .i32)])], .invalidPlan, "cannot store a F32 tensor as I32")
        refused([.init(name: "../x.distcp")], .invalidPlan, "file name")
        refused([.init(name: ".metadata")], .invalidPlan, "file name")
        refused([.init(name: "a.distcp", bytesItems: [.init(key: "w", payload: [])], tensorChunks: [chunk([0, 0], [4, 4])])], .invalidPlan, "both")
        refused([.init(name: "a.distcp", tensorChunks: [.init(key: "w", globalShape: [4, 4], dtype: .f32, offsets: [0, 0], sizes: [4, 4], source: t,
                                                               sourceBox: Box(offsets: [0, 0], sizes: [2, 8]))])], .invalidPlan, "outside the source")
    }
}

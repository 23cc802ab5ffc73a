import Testing
import TensorCore
import TestSupport
@testable import SafeTensors

@Suite struct WriterRoundTripTests {
    func items(from ckpt: SafeTensorsCheckpoint) throws -> [SafeTensorsWriter.Item] {
        try ckpt.names.map { SafeTensorsWriter.Item(name: $0, source: try ckpt.tensor($0)) }
    }

    func assertSameTensors(_ a: SafeTensorsCheckpoint, _ b: SafeTensorsCheckpoint) throws {
        #expect(a.names == b.names)
        for n in a.names {
            let x = try a.tensor(n), y = try b.tensor(n)
            #expect(x.dtype == y.dtype && x.shape == y.shape, "\(n)")
            #expect(XXH3Hasher.hash(x.rawBytes) == XXH3Hasher.hash(y.rawBytes), "\(n)")
        }
    }

    @Test func unshardedRoundTripIsBitExact() throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"))
        let dir = Fixtures.scratch("st-unsharded")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        try SafeTensorsWriter.save(try items(from: src), to: out)
        #expect(try FileSystem.list(out) == ["model.safetensors"])
        let back = try SafeTensorsCheckpoint(path: out)
        try assertSameTensors(src, back)
        #expect(back.files[0].header.headerLength % 8 == 0)
        #expect(back.files[0].header.metadata == ["format": "pt"])
    }

    @Test func shardedRoundTripIsBitExactAndIndexed() throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf"))
        let dir = Fixtures.scratch("st-sharded")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        try SafeTensorsWriter.save(try items(from: src), to: out, maxShardSize: 1_000_000)
        let files = try FileSystem.list(out)
        #expect(files.contains(SafeTensorsCheckpoint.indexFileName))
        #expect(files.filter { $0.hasSuffix(".safetensors") }.count >= 3)
        for f in files where f.hasSuffix(".safetensors") {
            // No shard passes the limit unless a single tensor does.
            let size = FileSystem.fileSize(FileSystem.join(out, f))!
            #expect(size < 1_000_000 + 300_000)
        }
        let back = try SafeTensorsCheckpoint(path: out)
        #expect(back.indexed)
        try assertSameTensors(src, back)
        let index = try SafeTensorsCheckpoint.readIndex(FileSystem.join(out, SafeTensorsCheckpoint.indexFileName))
        #expect(index.totalSize == src.totalTensorBytes)
    }

    @Test func writtenFilesAreNaturallyAligned() throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf_bf16"))
        let dir = Fixtures.scratch("st-align")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        try SafeTensorsWriter.save(try items(from: src), to: out)
        let f = try SafeTensorsFile(path: FileSystem.join(out, "model.safetensors"))
        for e in f.header.entries { #expect(f.fileOffset(of: e) % (e.dtype.byteSize ?? 1) == 0) }
    }

    @Test func castOnWriteMatchesTransformersBF16() throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"))
        let ref = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf_bf16"))
        let dir = Fixtures.scratch("st-cast")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        try SafeTensorsWriter.save(try src.names.map { SafeTensorsWriter.Item(name: $0, dtype: .bf16, source: try src.tensor($0)) }, to: out)
        try assertSameTensors(try SafeTensorsCheckpoint(path: out), ref)
    }

    @Test func refusesToOverwriteAndLeavesNothingBehind() throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"))
        let dir = Fixtures.scratch("st-over")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        try FileSystem.makeDirectory(out)
        try writeWholeFile(FileSystem.join(out, "keep.txt"), [1, 2, 3])
        #expect(throws: TensorCoreError.self) { try SafeTensorsWriter.save(try items(from: src), to: out) }
        #expect(try FileSystem.list(out) == ["keep.txt"])
        #expect(try FileSystem.list(dir) == ["out"])
    }

    @Test func indexValidation() throws {
        let dir = Fixtures.scratch("st-index")
        defer { FileSystem.remove(dir) }
        try FileSystem.copyFile(try Fixtures.path("qwen3_vl_moe_tiny/hf/model.safetensors"), FileSystem.join(dir, "model.safetensors"))
        func withIndex(_ json: String) throws -> SafeTensorsError.Code? {
            try writeWholeFile(FileSystem.join(dir, SafeTensorsCheckpoint.indexFileName), Array(json.utf8))
            do { _ = try SafeTensorsCheckpoint(path: dir); return nil } catch let e as SafeTensorsError { return e.code }
        }
        #expect(try withIndex("{\"weight_map\": {\"x\": \"../model.safetensors\"}}") == .invalidIndex)
        #expect(try withIndex("{\"weight_map\": {\"x\": \"/etc/model.safetensors\"}}") == .invalidIndex)
        #expect(try withIndex("{\"weight_map\": {\"x\": \"model.bin\"}}") == .invalidIndex)
        // A listed tensor that is not in its shard, and shard tensors missing from the index.
        #expect(try withIndex("{\"weight_map\": {\"x\": \"model.safetensors\"}}") == .invalidIndex)
        #expect(try withIndex("{\"weight_map\": {\"lm_head.weight\": \"model.safetensors\"}}") == .invalidIndex)
        #expect(try withIndex("{\"weight_map\": {\"a\": \"model.safetensors\", \"a\": \"model.safetensors\"}}") == .duplicateKey)
    }

    @Test func tensorInTwoShardsRejected() throws {
        let dir = Fixtures.scratch("st-dup")
        defer { FileSystem.remove(dir) }
        let src = try Fixtures.path("qwen3_vl_moe_tiny/hf/model.safetensors")
        try FileSystem.copyFile(src, FileSystem.join(dir, "model-00001-of-00002.safetensors"))
        try FileSystem.copyFile(src, FileSystem.join(dir, "model-00002-of-00002.safetensors"))
        #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsCheckpoint(path: dir) }
    }

    @Test func naturalOrder() {
        #expect(naturalLess("layers.2.w", "layers.10.w"))
        #expect(!naturalLess("layers.10.w", "layers.2.w"))
        #expect(naturalLess("a", "b"))
        #expect(naturalLess("a.1", "a.1.x"))
    }
}

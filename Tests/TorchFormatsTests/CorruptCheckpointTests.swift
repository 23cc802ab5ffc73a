import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// Damaged copies of a fixture checkpoint (made in a scratch folder; the fixtures are never touched):
/// every problem is an error naming the key, the file and the byte offset.
@Suite struct CorruptCheckpointTests {
    static let source = "qwen3_vl_dense_tiny/bridge_tp2_ep1/megatron/iter_0000000"
    static let key = "language_model.decoder.layers.self_attention.linear_qkv.weight"

    /// A copy of the fixture folder.
    private func copy() throws -> ScratchFolder {
        let s = ScratchFolder("corrupt")
        let src = try Fixtures.path(Self.source)
        for name in try FileSystem.list(src) {
            try writeWholeFile(s.file(name), try readWholeFile(FileSystem.join(src, name)))
        }
        return s
    }

    private func expectError(_ code: TorchFormatsError.Code, _ text: String, key: String?, file: String? = nil, offset: Int? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let e as TorchFormatsError {
            #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
            #expect(e.summary.contains(text), "\(e.summary)", sourceLocation: sourceLocation)
            if let key { #expect(e.key == key, "\(e)", sourceLocation: sourceLocation) }
            if let file { #expect(e.file?.hasSuffix(file) == true, "\(e)", sourceLocation: sourceLocation) }
            if let offset { #expect(e.byteOffset == offset, "\(e)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Rewrites `.metadata` after `edit` changes the parsed metadata.
    private func editMetadata(_ s: ScratchFolder, _ edit: (inout DCPMetadata) -> Void) throws {
        var m = try DCPMetadata(path: s.file(".metadata"))
        edit(&m)
        try writeWholeFile(s.file(".metadata"), try m.serialized())
    }

    @Test func truncatedDataFile() throws {
        let s = try copy()
        let ckpt0 = try TorchDistCheckpoint(path: s.path)
        let loc = try ckpt0.chunks(of: Self.key).max { $0.offset < $1.offset && $0.file == "__0_0.distcp" }!
        let bytes = try readWholeFile(s.file(loc.file))
        try writeWholeFile(s.file(loc.file), Array(bytes.prefix(loc.offset + loc.length / 2)))
        let ckpt = try TorchDistCheckpoint(path: s.path)
        expectError(.dcpInvalid, "reaches past the end", key: Self.key, file: loc.file, offset: loc.offset) { _ = try ckpt.tensor(Self.key) }
    }

    @Test func storageLocationPastTheEndOfItsFile() throws {
        let s = try copy()
        let size = FileSystem.fileSize(s.file("__1_0.distcp"))!
        try editMetadata(s) { m in
            let i = m.storage.firstIndex { $0.index.fqn == Self.key && $0.info.relativePath == "__1_0.distcp" }!
            m.storage[i].info.offset = size + 100
        }
        let ckpt = try TorchDistCheckpoint(path: s.path)
        expectError(.dcpInvalid, "reaches past the end", key: Self.key, file: "__1_0.distcp", offset: size + 100) { _ = try ckpt.tensor(Self.key) }
    }

    @Test func itemWithoutItsEndRecord() throws {
        let s = try copy()
        var info = DCPMetadata.StorageInfo(relativePath: "", offset: 0, length: 0)
        try editMetadata(s) { m in
            let i = m.storage.firstIndex { $0.index.fqn == Self.key }!
            m.storage[i].info.length -= 1
            info = m.storage[i].info
        }
        let ckpt = try TorchDistCheckpoint(path: s.path)
        // The error points at the end of the item as the metadata describes it.
        expectError(.zipInvalid, "end-of-central-directory", key: Self.key, file: info.relativePath, offset: info.offset + info.length) {
            _ = try ckpt.tensor(Self.key)
        }
    }

    @Test func chunksLeavingAHole() throws {
        let s = try copy()
        try editMetadata(s) { m in
            let i = m.entries.firstIndex { $0.key == Self.key }!
            guard case var .tensor(t) = m.entries[i].entry else { return }
            let dropped = t.chunks.removeLast()
            m.entries[i].entry = .tensor(t)
            m.storage.removeAll { $0.index == DCPMetadata.StorageIndex(fqn: Self.key, offset: dropped.offsets) }
        }
        let ckpt = try TorchDistCheckpoint(path: s.path)
        expectError(.dcpTiling, "hole", key: Self.key, file: ".metadata") { _ = try ckpt.tensor(Self.key) }
        // Other keys still read.
        #expect(try ckpt.tensor("language_model.embedding.word_embeddings.weight").shape == [1024, 64])
    }

    @Test func overlappingChunks() throws {
        let s = try copy()
        try editMetadata(s) { m in
            let i = m.entries.firstIndex { $0.key == Self.key }!
            guard case var .tensor(t) = m.entries[i].entry else { return }
            let old = t.chunks[1]
            var moved = old
            moved.offsets[1] += 8  // shift the second chunk's rows into the next one
            t.chunks[1] = moved
            m.entries[i].entry = .tensor(t)
            let k = m.storage.firstIndex { $0.index == DCPMetadata.StorageIndex(fqn: Self.key, offset: old.offsets) }!
            m.storage[k].index.offset = moved.offsets
        }
        let ckpt = try TorchDistCheckpoint(path: s.path)
        expectError(.dcpTiling, "overlap", key: Self.key, file: ".metadata") { _ = try ckpt.tensor(Self.key) }
    }

    @Test func chunkShapeDisagreesWithItsArchive() throws {
        let s = try copy()
        let emb = "language_model.embedding.word_embeddings.weight"
        try editMetadata(s) { m in
            // Swap the storage of the embedding's first chunk with a qkv chunk (a different shape).
            let a = m.storage.firstIndex { $0.index.fqn == emb }!
            let b = m.storage.firstIndex { $0.index.fqn == Self.key }!
            m.storage[a].info = m.storage[b].info
        }
        let ckpt = try TorchDistCheckpoint(path: s.path)
        expectError(.dcpInvalid, "holds a tensor of shape", key: emb) { _ = try ckpt.tensor(emb) }
    }

    @Test func metadataThatIsNotDCP() throws {
        let s = try copy()
        try writeWholeFile(s.file(".metadata"), try PickleWriter.serialize(.dict([])))
        expectError(.dcpInvalid, "checkpoint metadata", key: nil, file: ".metadata") { _ = try TorchDistCheckpoint(path: s.path) }
        try writeWholeFile(s.file(".metadata"), Array(try readWholeFile(try Fixtures.path(Self.source + "/.metadata")).prefix(1000)))
        expectError(.pickleTruncated, "ends inside", key: nil, file: ".metadata") { _ = try TorchDistCheckpoint(path: s.path) }
    }

    @Test func missingOrExtraStorageEntries() throws {
        let s = try copy()
        try editMetadata(s) { m in m.storage.removeAll { $0.index.fqn == Self.key } }
        expectError(.dcpInvalid, "no storage location", key: Self.key) { _ = try TorchDistCheckpoint(path: s.path) }
        let t = try copy()
        try editMetadata(t) { m in m.storage.append((.init(fqn: "ghost"), m.storage[0].info)) }
        expectError(.dcpInvalid, "belongs to no key", key: "ghost") { _ = try TorchDistCheckpoint(path: t.path) }
    }

    @Test func compressionTransformsAreRefused() throws {
        let s = try copy()
        // Add transform_descriptors to one _StorageInfo in the pickle tree (torch ≥ 2.7 stream extensions).
        var tree = try PickleReader().read(try readWholeFile(s.file(".metadata")))
        guard case var .object(meta) = tree, case var .dict(state)? = meta.state,
              let sdIndex = state.firstIndex(where: { $0.0 == .string("storage_data") }), case var .dict(sd) = state[sdIndex].1,
              case var .object(info) = sd[0].1, case var .dict(fields)? = info.state else {
            Issue.record("unexpected metadata shape")
            return
        }
        fields.append((.string("transform_descriptors"), .list([.string("zstd")])))
        info.state = .dict(fields)
        sd[0].1 = .object(info)
        state[sdIndex].1 = .dict(sd)
        meta.state = .dict(state)
        tree = .object(meta)
        try writeWholeFile(s.file(".metadata"), try PickleWriter.serialize(tree))
        expectError(.dcpUnsupported, "transforms", key: nil) { _ = try TorchDistCheckpoint(path: s.path) }
    }

    @Test func trackerProblems() throws {
        let s = ScratchFolder("tracker")
        try writeWholeFile(s.file(MegatronCheckpointRoot.trackerFileName), Array("banana".utf8))
        expectError(.checkpointLayout, "banana", key: nil) { _ = try TorchDistCheckpoint(path: s.path) }
        try writeWholeFile(s.file(MegatronCheckpointRoot.trackerFileName), Array("5\n".utf8))
        expectError(.checkpointLayout, "iter_0000005", key: nil) { _ = try TorchDistCheckpoint(path: s.path) }
        FileSystem.remove(s.file(MegatronCheckpointRoot.trackerFileName))
        expectError(.checkpointLayout, "no torch_dist checkpoint", key: nil) { _ = try TorchDistCheckpoint(path: s.path) }
        expectError(.notFound, "no such folder", key: nil) { _ = try TorchDistCheckpoint(path: s.file("nope")) }
    }
}

import SafeTensors
import Testing
import TensorCore
import TestSupport
import TorchFormats
@testable import Bridge

/// A lower module's error that escapes Bridge says what Bridge was doing (which checkpoint, tensor or
/// step), keeps the original's file, key, byte offset and hint, and carries the original as its cause.
/// The damaged inputs are copies of upstream-made fixtures (transformers' safetensors, Megatron-Bridge's
/// torch_dist save); the expected file, key and offset come from those files, not from typed-in numbers.
@Suite struct ErrorContextTests {
    /// The fields a `.lowerLayer` wrapper must keep from its cause.
    private func expectWrapped<Cause: ErrorCode>(_ error: Error?, step: String, cause: Cause,
                                                 sourceLocation: SourceLocation = #_sourceLocation) -> ModuleError<Cause>? {
        guard let e = error as? BridgeError else {
            Issue.record("expected a BridgeError, got \(String(describing: error))", sourceLocation: sourceLocation)
            return nil
        }
        #expect(e.code == .lowerLayer, "\(e)", sourceLocation: sourceLocation)
        #expect(e.summary.hasPrefix(step), "\(e.summary)", sourceLocation: sourceLocation)
        guard let u = e.underlying as? ModuleError<Cause> else {
            Issue.record("cause is \(String(describing: e.underlying))", sourceLocation: sourceLocation)
            return nil
        }
        #expect(u.code == cause, "\(u)", sourceLocation: sourceLocation)
        #expect(e.summary.hasSuffix(u.summary), sourceLocation: sourceLocation)
        #expect(e.file == u.file && e.key == u.key && e.byteOffset == u.byteOffset && e.hint == u.hint, "\(e) / \(u)",
                sourceLocation: sourceLocation)
        return u
    }

    /// A shard cut short: opening the HF checkpoint for import names the checkpoint, the shard, the
    /// first tensor whose bytes are missing and the offset where the data stops.
    @Test func truncatedShardDuringImportNamesTheHFTensor() throws {
        let dir = Fixtures.scratch("ctx-st")
        defer { FileSystem.remove(dir) }
        let src = try Fixtures.path("qwen3_vl_dense_tiny/hf")
        for f in try FileSystem.list(src) { try FileSystem.copyFile(FileSystem.join(src, f), FileSystem.join(dir, f)) }
        let shard = FileSystem.join(dir, "model.safetensors")
        let original = try SafeTensorsFile(path: try Fixtures.path("qwen3_vl_dense_tiny/hf/model.safetensors"))
        let bytes = try readWholeFile(shard)
        let kept = bytes.count - 1000
        try writeWholeFile(shard, Array(bytes.prefix(kept)))
        // The tensor the cut falls in, from the intact file's header.
        let dataStart = 8 + original.header.headerLength
        let cut = original.header.entries.sorted { $0.dataOffsets.begin < $1.dataOffsets.begin }
            .first { dataStart + $0.dataOffsets.end > kept }!.name

        let error = #expect(throws: BridgeError.self) { _ = try HFCheckpoint(path: dir, mappings: mappingsDirectory) }
        let u = expectWrapped(error, step: "cannot open the safetensors of the HF checkpoint \(dir)", cause: SafeTensorsErrorCode.metadataIncompleteBuffer)
        // The offset is where the data should have ended: the intact file's size.
        #expect(u?.file == shard && u?.key == cut && u?.byteOffset == bytes.count)
    }

    /// A .distcp cut inside a chunk: planning the export names the Megatron parameter being read and its
    /// storage key, with the data file and the chunk's offset from the checkpoint's own metadata.
    @Test func badDistcpChunkDuringExportNamesTheMegatronParameter() throws {
        let dir = Fixtures.scratch("ctx-dcp")
        defer { FileSystem.remove(dir) }
        let src = try Fixtures.path("qwen3_vl_dense_tiny/bridge_tp2_ep1/megatron/iter_0000000")
        for f in try FileSystem.list(src) where FileSystem.isFile(FileSystem.join(src, f)) {
            try FileSystem.copyFile(FileSystem.join(src, f), FileSystem.join(dir, f))
        }
        // Cut the data file inside its last chunk, so that only that chunk's tensor is damaged.
        let intact = try TorchDistCheckpoint(path: dir)
        let (key, loc) = try intact.tensorKeys.flatMap { k in try intact.chunks(of: k).map { (k, $0) } }
            .filter { $0.1.file == "__0_0.distcp" }.max { $0.1.offset < $1.1.offset }!
        func plan(_ checkpoint: MegatronCheckpoint) throws -> ExportPlan {
            try ExportPlan(reader: try checkpoint.parameterReader(), hfConfig: checkpoint.hfConfig, table: checkpoint.table, request: ExportRequest())
        }
        // The parameter read first from that key, as the intact checkpoint's plan lists them.
        let parameter = try plan(try MegatronCheckpoint.open(dir, mappings: mappingsDirectory)).parameters.first { $0.storage.key == key }!.name
        let data = try readWholeFile(FileSystem.join(dir, loc.file))
        try writeWholeFile(FileSystem.join(dir, loc.file), Array(data.prefix(loc.offset + loc.length / 2)))

        let checkpoint = try MegatronCheckpoint.open(dir, mappings: mappingsDirectory)
        let error = #expect(throws: BridgeError.self) { _ = try plan(checkpoint) }
        let u = expectWrapped(error, step: "cannot read Megatron parameter '\(parameter)' from its stored tensor '\(key)'",
                              cause: TorchFormatsErrorCode.dcpInvalid)
        #expect(u?.key == key && u?.file?.hasSuffix(loc.file) == true && u?.byteOffset == loc.offset)
    }

    /// Writing: an I/O failure while the data files are written names the conversion and its output,
    /// and keeps the errno's hint; a cancellation by the progress observer passes as itself.
    @Test func writeFailureNamesTheOutputAndCancellationPassesUnchanged() throws {
        let dir = Fixtures.scratch("ctx-write")
        defer { FileSystem.remove(dir) }
        let full = TensorCoreError(.io, "write failed: pwrite() failed with ENOSPC (No space left on device)", file: "x.distcp",
                                   byteOffset: 4096, hint: "the disk is full: free space or write the output to another disk")
        func output(_ failure: Error) -> ConversionOutput {
            ConversionOutput(conversion: .importToMegatron, inputs: [], dataFiles: [.init(path: "x.distcp", size: 1)],
                             writeData: { _, _, _ in throw failure }, writeRest: { _ in })
        }
        let out = FileSystem.join(dir, "out")
        let error = #expect(throws: BridgeError.self) { try output(full).write(to: out, overwrite: false, executor: WriteExecutor()) }
        _ = expectWrapped(error, step: "cannot write the data files of the import into \(out)", cause: TensorCoreErrorCode.io)
        #expect(!FileSystem.exists(out))

        let cancelled = #expect(throws: TensorCoreError.self) {
            try output(WriteProgress.cancelled).write(to: out, overwrite: false, executor: WriteExecutor())
        }
        #expect(cancelled?.code == .cancelled)
        // Bridge's own errors are not wrapped again.
        let own = BridgeError(.missingKeys, "x")
        #expect((BridgeError.wrapping(own, step: "y") as? BridgeError)?.summary == "x")
    }
}

import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// The torch.save zip container: our layout against our reader, torch's own archives, zip64, CRCs and
/// corrupt archives.
@Suite struct ZipTests {
    /// Writes an archive planned by `TorchZipLayout` with the given payloads into a file.
    private func writeArchive(_ records: [(String, [UInt8])], archive: String = "archive", to path: String) throws -> TorchZipLayout {
        let layout = try TorchZipLayout(archiveName: archive, records: records.map { ($0.0, $0.1.count) })
        var out = [UInt8](repeating: 0, count: layout.totalLength)
        for (r, (_, bytes)) in zip(layout.records, records) { out.replaceSubrange(r.payloadOffset..<(r.payloadOffset + bytes.count), with: bytes) }
        for w in layout.headerWrites(crcs: records.map { CRC32.checksum($0.1) }) {
            out.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes)
        }
        try writeWholeFile(path, out)
        return layout
    }

    @Test func layoutRoundTripsThroughTheReader() throws {
        let scratch = ScratchFolder("zip")
        let records: [(String, [UInt8])] = [("data.pkl", Array("pickle bytes".utf8)), ("byteorder", Array("little".utf8)),
                                            ("data/0", (0..<1000).map { UInt8($0 % 251) }), ("data/1", []), ("version", Array("3\n".utf8))]
        let layout = try writeArchive(records, archive: "model_optim_rng", to: scratch.file("a.pt"))
        let z = try TorchZipReader(path: scratch.file("a.pt"), verifyCRC: true)
        #expect(z.archiveName == "model_optim_rng")
        #expect(z.recordNames == records.map(\.0))
        for (e, (_, bytes)) in zip(z.entries, records) {
            #expect(Array(try z.bytes(of: e)) == bytes)
            #expect(e.dataOffset % 64 == 0, "\(e.name) at \(e.dataOffset)")
            #expect(e.crc32 == CRC32.checksum(bytes))
        }
        #expect(layout.totalLength == FileSystem.fileSize(scratch.file("a.pt")))
    }

    /// CRC-32 of known strings: the check value of the zip polynomial, and the CRC torch stored for
    /// the `byteorder` record of a fixture archive (read from the file, not typed here).
    @Test func crcMatchesTorch() throws {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        let z = try TorchZipReader(path: try Fixtures.path("qwen3_vl_dense_tiny/bridge_tp2_ep1/megatron/iter_0000000/common.pt"))
        let e = try #require(z.entry("byteorder"))
        #expect(e.crc32 == CRC32.checksum(Array("little".utf8)))
    }

    /// torch 2.13's own archives: data descriptors (flags 0x0808), a zip64 end record, `.format_version`,
    /// `.storage_alignment` and `.data/serialization_id` records (format reference §2.1–2.2).
    @Test func readsTorchWrittenArchives() throws {
        let dir = try Fixtures.path("qwen3_vl_dense_tiny/bridge_tp2_ep1/megatron/iter_0000000")
        let common = try TorchZipReader(path: dir + "/common.pt", verifyCRC: true)
        #expect(common.archiveName == "common")
        #expect(common.recordNames == ["data.pkl", ".format_version", ".storage_alignment", "byteorder", "version", ".data/serialization_id"])
        #expect(Array(try common.data(".storage_alignment")) == Array("64".utf8))
        for e in common.entries { #expect(e.dataOffset % 64 == 0) }
        let train = try TorchZipReader(path: dir + "/train_state.pt", verifyCRC: true)
        #expect(train.archiveName == "train_state")
        // Every DCP item of every fixture is a torch.save archive at an offset inside its .distcp file.
        for c in FixtureCatalog.all {
            let layout = try FixtureCatalog.layout(c)
            let folder = try Fixtures.path(c.iterationFolder)
            var files = [String: MappedFile]()
            let items = layout.tensors.values.flatMap { $0.chunks.map { ($0.file, $0.byteOffset, $0.byteLength) } }
                + layout.bytes.values.map { ($0.file, $0.byteOffset, $0.byteLength) }
            for (file, offset, length) in items {
                let f = try files[file] ?? MappedFile(path: FileSystem.join(folder, file))
                files[file] = f
                let z = try TorchZipReader(file: f, offset: offset, length: length, verifyCRC: true)
                #expect(z.archiveName == "archive")
                #expect(z.entry("data.pkl") != nil && z.entry("version") != nil)
            }
        }
    }

    /// A record of 4 GiB + 1 byte after a small one: sizes and offsets past 0xFFFFFFFF need zip64 fields.
    /// The archive is written sparse (only headers), then read back.
    @Test func zip64ForHugeRecords() throws {
        let huge = 0x1_0000_0001
        let layout = try TorchZipLayout(archiveName: "archive", records: [("data.pkl", 10), ("data/0", huge), ("version", 2)])
        #expect(layout.records[1].payloadOffset % 64 == 0)
        #expect(layout.records[2].localHeaderOffset > 0xFFFF_FFFF)
        let crcs: [UInt32] = [1, 2, 3]
        // Local header of the huge record: 32-bit sizes hold 0xFFFFFFFF and a zip64 extra field follows the name.
        let lh = layout.localHeader(1, crc: 2)
        lh.withUnsafeBytes { raw in
            let f = ZipBytes(base: raw)
            #expect(f.u16(4) == 45)
            #expect(f.u32(18) == 0xFFFF_FFFF && f.u32(22) == 0xFFFF_FFFF)
            let nameLen = Int(f.u16(26))
            #expect(f.u16(30 + nameLen) == 0x0001 && f.u16(32 + nameLen) == 16)
            #expect(f.u64(34 + nameLen) == UInt64(huge) && f.u64(42 + nameLen) == UInt64(huge))
            #expect(f.u16(50 + nameLen) == 0x4246)
        }
        // The last record's central entry keeps its offset in a zip64 field.
        let trailer = layout.trailer(crcs: crcs)
        #expect(trailer.count == layout.totalLength - layout.centralDirectoryOffset)
        let scratch = ScratchFolder("zip64")
        let path = scratch.file("huge.pt")
        let out = try OutputFile(creating: path, size: layout.totalLength)
        for w in layout.headerWrites(crcs: crcs) { try out.write(w.bytes, at: w.offset) }
        let z = try TorchZipReader(path: path)
        #expect(z.entries.map(\.size) == [10, huge, 2])
        #expect(z.entries.map(\.crc32) == crcs)
        #expect(z.entries.map(\.dataOffset) == layout.records.map(\.payloadOffset))
        #expect(z.entries[2].localHeaderOffset == layout.records[2].localHeaderOffset)
    }

    @Test func smallArchivesStillCarryTheZip64EndRecord() throws {
        let layout = try TorchZipLayout(archiveName: "archive", records: [("version", 2)])
        let t = layout.trailer(crcs: [0])
        t.withUnsafeBytes { raw in
            let f = ZipBytes(base: raw)
            let cd = ZipFormat.centralHeaderSize + "archive/version".utf8.count
            #expect(f.u32(cd) == ZipFormat.zip64EndSignature)
            #expect(f.u32(cd + 56) == ZipFormat.zip64LocatorSignature)
            #expect(f.u32(cd + 76) == ZipFormat.endOfCentralDirectorySignature)
        }
    }

    @Test func corruptArchivesAreRefused() throws {
        let scratch = ScratchFolder("zipbad")
        let good = scratch.file("good.pt")
        let layout = try writeArchive([("data.pkl", Array("abc".utf8)), ("version", Array("3\n".utf8))], to: good)
        let bytes = try readWholeFile(good)
        func expectError(_ b: [UInt8], _ code: TorchFormatsError.Code, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let p = scratch.file("bad.pt")
            try writeWholeFile(p, b)
            do {
                _ = try TorchZipReader(path: p, verifyCRC: true)
                Issue.record("accepted a corrupt archive", sourceLocation: sourceLocation)
            } catch let e as TorchFormatsError {
                #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
                #expect(e.summary.contains(text), "\(e.summary)", sourceLocation: sourceLocation)
                #expect(e.file == p && e.byteOffset != nil, sourceLocation: sourceLocation)
            }
        }
        try expectError(Array(bytes.dropLast()), .zipInvalid, "no end-of-central-directory")
        try expectError(Array(bytes.prefix(10)), .zipInvalid, "too few")
        var compressed = bytes
        compressed[layout.centralDirectoryOffset + 10] = 8  // method deflate in the central directory
        try expectError(compressed, .zipUnsupported, "compressed")
        var badCRC = bytes
        badCRC[layout.records[0].payloadOffset] ^= 0xFF
        try expectError(badCRC, .zipChecksum, "CRC-32")
        var badName = bytes
        badName[layout.records[0].localHeaderOffset + 30] = UInt8(ascii: "X")
        try expectError(badName, .zipInvalid, "differs from the central directory")
        var farOffset = bytes
        farOffset.replaceSubrange((layout.centralDirectoryOffset + 42)..<(layout.centralDirectoryOffset + 46), with: [0, 0, 0, 0x40])
        try expectError(farOffset, .zipInvalid, "outside the archive")
        // Two archive folders.
        var twoFolders = bytes
        let secondName = layout.records[1].localHeaderOffset + 30
        twoFolders[secondName] = UInt8(ascii: "b")
        let cdSecond = layout.centralDirectoryOffset + ZipFormat.centralHeaderSize + "archive/data.pkl".utf8.count + ZipFormat.centralHeaderSize
        twoFolders[cdSecond] = UInt8(ascii: "b")
        try expectError(twoFolders, .zipInvalid, "outside the archive folder")
    }
}

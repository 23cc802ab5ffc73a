import TensorCore

/// A torch.save zip archive inside a mapped file region: a whole `.pt` file, or a DCP item at an offset
/// inside a `.distcp` file (all zip offsets are then relative to the item's start).
///
/// Only what torch writes is accepted: STORED entries in one archive folder. Every length and offset is
/// checked against the region, local headers must agree with the central directory, entries must not
/// overlap, and names must be unique. Data descriptors, zip64 records and extra fields are read as needed.
public final class TorchZipReader {
    /// One record of the archive.
    public struct Entry: Sendable {
        /// The full name in the zip (`archive/data/0`).
        public let name: String
        /// The name below the archive folder (`data/0`).
        public let recordName: String
        /// Where the payload starts, relative to the archive start.
        public let dataOffset: Int
        public let size: Int
        public let crc32: UInt32
        public let localHeaderOffset: Int
    }

    public let file: MappedFile
    /// Where the archive starts in `file`.
    public let baseOffset: Int
    public let length: Int
    /// The top folder every entry lives in (`archive`, `common`, `model_optim_rng`, …).
    public let archiveName: String
    /// Entries in central-directory order.
    public let entries: [Entry]
    /// Named in errors (the file path, or the DCP key of the item).
    public let key: String?
    private let byRecord: [String: Int]

    /// - Parameters:
    ///   - offset, length: the archive's region in `file` (default: the whole file).
    ///   - key: the DCP key or record this archive is, for errors.
    ///   - verifyCRC: check every entry's CRC-32 now (costs a read of every byte).
    public init(file: MappedFile, offset: Int = 0, length: Int? = nil, key: String? = nil, verifyCRC: Bool = false) throws {
        let len = length ?? (file.size - offset)
        guard offset >= 0, len >= 0, offset <= file.size, len <= file.size - offset else {
            throw TorchFormatsError(.zipInvalid, "the archive's region of \(len) bytes reaches past the end of the \(file.size)-byte file",
                                    file: file.path, key: key, byteOffset: offset, hint: "the file is truncated")
        }
        self.file = file
        baseOffset = offset
        self.length = len
        self.key = key
        let region = len == 0 ? UnsafeRawBufferPointer(start: nil, count: 0) : try file.bytes(at: offset, count: len)
        let parsed = try ZipDirectoryParser(region: region, path: file.path, key: key, base: offset).parse()
        entries = parsed
        guard let first = parsed.first, let slash = first.name.firstIndex(of: "/") else {
            throw TorchFormatsError(.zipInvalid, parsed.isEmpty ? "the archive has no entries" : "the first entry '\(parsed[0].name)' is not inside a folder",
                                    file: file.path, key: key, byteOffset: offset, hint: "torch.save archives keep every record in one folder")
        }
        archiveName = String(first.name[..<slash])
        var map = [String: Int]()
        for (i, e) in parsed.enumerated() {
            guard e.name.hasPrefix(archiveName + "/") else {
                throw TorchFormatsError(.zipInvalid, "entry '\(e.name)' is outside the archive folder '\(archiveName)'",
                                        file: file.path, key: key, byteOffset: offset + e.localHeaderOffset)
            }
            map[e.recordName] = i
        }
        byRecord = map
        if verifyCRC {
            for e in parsed { try checkCRC(e) }
        }
    }

    /// Opens a whole `.pt` file.
    public convenience init(path: String, verifyCRC: Bool = false) throws {
        let f: MappedFile
        do { f = try MappedFile(path: path) } catch { throw TorchFormatsError.wrap(error, file: path) }
        try self.init(file: f, verifyCRC: verifyCRC)
    }

    /// Record names below the archive folder, in archive order.
    public var recordNames: [String] { entries.map(\.recordName) }

    /// The entry for a record name below the archive folder (`data.pkl`, `data/0`, `version`).
    public func entry(_ recordName: String) -> Entry? { byRecord[recordName].map { entries[$0] } }

    /// The payload of a record, straight from the mapping.
    public func bytes(of e: Entry) throws -> UnsafeRawBufferPointer {
        do {
            return try file.bytes(at: baseOffset + e.dataOffset, count: e.size, key: key)
        } catch {
            throw TorchFormatsError.wrap(error, code: .zipInvalid, file: file.path, key: key)
        }
    }

    /// The payload of a record by name; a missing record is an error.
    public func data(_ recordName: String) throws -> UnsafeRawBufferPointer {
        guard let e = entry(recordName) else {
            throw TorchFormatsError(.notFound, "the archive has no record '\(archiveName)/\(recordName)'", file: file.path, key: key,
                                    byteOffset: baseOffset)
        }
        return try bytes(of: e)
    }

    /// The absolute offset in `file` of a record's first payload byte.
    public func fileOffset(of e: Entry) -> Int { baseOffset + e.dataOffset }

    /// Checks an entry's CRC-32 against its bytes.
    public func checkCRC(_ e: Entry) throws {
        var c = CRC32()
        // In 64 MB steps, each step's mapped pages released after it: checking a whole checkpoint (check,
        // or an export opening every chunk) must not keep every byte of it resident.
        let all = try bytes(of: e)
        var done = 0
        while done < all.count {
            let n = min(64 << 20, all.count - done)
            let piece = UnsafeRawBufferPointer(rebasing: all[done..<(done + n)])
            c.update(piece)
            MappedFile.releasePages(piece.baseAddress!, count: n)
            done += n
        }
        guard c.value == e.crc32 else {
            throw TorchFormatsError(.zipChecksum, "record '\(e.name)' has CRC-32 \(hex(c.value)) but the archive says \(hex(e.crc32))",
                                    file: file.path, key: key, byteOffset: fileOffset(of: e), hint: "the file is corrupt")
        }
    }

    private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
}

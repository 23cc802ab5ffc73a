/// The planned byte layout of a torch.save zip archive, computed from record names and sizes alone,
/// so payloads can be written later by positional writes (possibly in parallel, possibly gigabytes,
/// never held in memory) and the headers produced once their CRCs are known.
///
/// Layout (the one verified to load in torch, DCP and MCore; format reference §2.2): for each record a
/// local header with real CRC and sizes (flags 0, no data descriptor), a zip64 extra field when the size
/// is ≥ 0xFFFFFFFF, an `FB` extra field of `Z`s so the payload starts 64-byte aligned from the archive
/// start, the payload; then the central directory, a zip64 end record, its locator and the classic end
/// record (always, as torch does).
public struct TorchZipLayout: Sendable {
    public struct Record: Sendable {
        /// Full entry name (`archive/data/0`).
        public let name: String
        public let size: Int
        public let localHeaderOffset: Int
        /// 64-byte aligned, relative to the archive start.
        public let payloadOffset: Int
        var needsZip64Size: Bool { size >= ZipFormat.zip64Threshold }
        var needsZip64Offset: Bool { localHeaderOffset >= ZipFormat.zip64Threshold }
        var nameBytes: [UInt8] { Array(name.utf8) }
        var isASCII: Bool { name.utf8.allSatisfy { $0 < 0x80 } }
    }

    public let archiveName: String
    public let records: [Record]
    public let centralDirectoryOffset: Int
    public let centralDirectorySize: Int
    /// The archive's total size in bytes.
    public let totalLength: Int

    /// Plans an archive whose records are `archiveName/<name>` with the given payload sizes, in order.
    public init(archiveName: String, records: [(name: String, size: Int)]) throws {
        guard !archiveName.isEmpty, !archiveName.contains("/") else {
            throw TorchFormatsError(.invalidPlan, "archive name '\(archiveName)' must be a non-empty name without '/'")
        }
        self.archiveName = archiveName
        var out = [Record]()
        var cursor = 0
        var seen = Set<String>()
        for r in records {
            let full = "\(archiveName)/\(r.name)"
            guard r.size >= 0, !r.name.isEmpty, seen.insert(full).inserted, full.utf8.count <= 0xFFFF else {
                throw TorchFormatsError(.invalidPlan, "bad or duplicate zip record '\(full)' (\(r.size) bytes)")
            }
            let zip64Len = r.size >= ZipFormat.zip64Threshold ? 20 : 0
            let unpadded = cursor + ZipFormat.localHeaderSize + full.utf8.count + zip64Len + 4
            let payload = (unpadded + ZipFormat.alignment - 1) / ZipFormat.alignment * ZipFormat.alignment
            out.append(Record(name: full, size: r.size, localHeaderOffset: cursor, payloadOffset: payload))
            cursor = payload + r.size
        }
        self.records = out
        centralDirectoryOffset = cursor
        centralDirectorySize = out.reduce(0) { $0 + ZipFormat.centralHeaderSize + $1.name.utf8.count + Self.centralExtraLength($1) }
        totalLength = cursor + centralDirectorySize + ZipFormat.zip64EndSize + ZipFormat.zip64LocatorSize
            + ZipFormat.endOfCentralDirectorySize
    }

    private static func centralExtraLength(_ r: Record) -> Int {
        let n = (r.needsZip64Size ? 16 : 0) + (r.needsZip64Offset ? 8 : 0)
        return n == 0 ? 0 : 4 + n
    }

    private func version(_ r: Record) -> UInt16 { r.needsZip64Size || r.needsZip64Offset ? 45 : 20 }

    private func flags(_ r: Record) -> UInt16 { r.isASCII ? 0 : ZipFormat.flagUTF8 }

    /// The bytes from record `i`'s local header up to its payload.
    public func localHeader(_ i: Int, crc: UInt32) -> [UInt8] {
        let r = records[i]
        var z = ZipEmitter()
        z.u32(ZipFormat.localHeaderSignature)
        z.u16(version(r))
        z.u16(flags(r))
        z.u16(0)  // stored
        z.u16(0)  // time
        z.u16(0)  // date
        z.u32(crc)
        z.u32OrMax(r.size)
        z.u32OrMax(r.size)
        let name = r.nameBytes
        let extraLen = r.payloadOffset - r.localHeaderOffset - ZipFormat.localHeaderSize - name.count
        z.u16(UInt16(name.count))
        z.u16(UInt16(extraLen))
        z.append(name)
        if r.needsZip64Size {
            z.u16(ZipFormat.zip64ExtraID)
            z.u16(16)
            z.u64(UInt64(r.size))
            z.u64(UInt64(r.size))
        }
        let pad = r.payloadOffset - r.localHeaderOffset - z.bytes.count - 4
        z.u16(ZipFormat.paddingExtraID)
        z.u16(UInt16(pad))
        z.append([UInt8](repeating: ZipFormat.paddingByte, count: pad))
        return z.bytes
    }

    /// The central directory and end records, given every record's CRC-32 in order.
    public func trailer(crcs: [UInt32]) -> [UInt8] {
        precondition(crcs.count == records.count, "one CRC per record")
        var z = ZipEmitter()
        for (r, crc) in zip(records, crcs) {
            let name = r.nameBytes
            z.u32(ZipFormat.centralHeaderSignature)
            z.u16(version(r))  // made by (MS-DOS attributes, spec version)
            z.u16(version(r))  // needed
            z.u16(flags(r))
            z.u16(0)
            z.u16(0)
            z.u16(0)
            z.u32(crc)
            z.u32OrMax(r.size)
            z.u32OrMax(r.size)
            z.u16(UInt16(name.count))
            z.u16(UInt16(Self.centralExtraLength(r)))
            z.u16(0)  // comment
            z.u16(0)  // disk
            z.u16(0)  // internal attributes
            z.u32(0)  // external attributes
            z.u32OrMax(r.localHeaderOffset)
            z.append(name)
            if Self.centralExtraLength(r) > 0 {
                z.u16(ZipFormat.zip64ExtraID)
                z.u16(UInt16(Self.centralExtraLength(r) - 4))
                if r.needsZip64Size {
                    z.u64(UInt64(r.size))
                    z.u64(UInt64(r.size))
                }
                if r.needsZip64Offset { z.u64(UInt64(r.localHeaderOffset)) }
            }
        }
        let zip64At = centralDirectoryOffset + centralDirectorySize
        z.u32(ZipFormat.zip64EndSignature)
        z.u64(UInt64(ZipFormat.zip64EndSize - 12))
        z.u16(45)
        z.u16(45)
        z.u32(0)
        z.u32(0)
        z.u64(UInt64(records.count))
        z.u64(UInt64(records.count))
        z.u64(UInt64(centralDirectorySize))
        z.u64(UInt64(centralDirectoryOffset))
        z.u32(ZipFormat.zip64LocatorSignature)
        z.u32(0)
        z.u64(UInt64(zip64At))
        z.u32(1)
        z.u32(ZipFormat.endOfCentralDirectorySignature)
        z.u16(0)
        z.u16(0)
        z.u16(UInt16(Swift.min(records.count, 0xFFFF)))
        z.u16(UInt16(Swift.min(records.count, 0xFFFF)))
        z.u32OrMax(centralDirectorySize)
        z.u32OrMax(centralDirectoryOffset)
        z.u16(0)
        return z.bytes
    }

    /// Every non-payload byte range of the archive (local headers, then the trailer), with its offset
    /// relative to the archive start.
    public func headerWrites(crcs: [UInt32]) -> [(offset: Int, bytes: [UInt8])] {
        var out = records.indices.map { (offset: records[$0].localHeaderOffset, bytes: localHeader($0, crc: crcs[$0])) }
        out.append((offset: centralDirectoryOffset, bytes: trailer(crcs: crcs)))
        return out
    }
}

/// Reads the end-of-central-directory records (classic and zip64), the central directory and each
/// entry's local header, checking every offset and length against the archive region.
struct ZipDirectoryParser {
    let region: UnsafeRawBufferPointer
    let path: String
    let key: String?
    /// The region's offset in its file (error offsets are absolute).
    let base: Int

    private var bytes: ZipBytes { ZipBytes(base: region) }

    private func fail(_ message: String, at offset: Int, code: TorchFormatsError.Code = .zipInvalid,
                      hint: String? = "the archive is truncated or corrupt") -> TorchFormatsError {
        TorchFormatsError(code, message, file: path, key: key, byteOffset: base + offset, hint: hint)
    }

    /// True when `[offset, offset+count)` lies inside the region.
    private func inside(_ offset: Int, _ count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= region.count && count <= region.count - offset
    }

    private struct Directory {
        var entryCount: Int
        var offset: Int
        var size: Int
        /// Where the directory must end (the first end record).
        var limit: Int
    }

    func parse() throws -> [TorchZipReader.Entry] {
        let dir = try findDirectory()
        var entries = [TorchZipReader.Entry]()
        entries.reserveCapacity(dir.entryCount)
        var seen = Set<String>()
        var p = dir.offset
        let end = dir.offset + dir.size
        for i in 0..<dir.entryCount {
            let e = try centralEntry(at: p, end: end, index: i)
            guard seen.insert(e.entry.name).inserted else {
                throw fail("the archive holds '\(e.entry.name)' twice", at: p)
            }
            entries.append(e.entry)
            p = e.next
        }
        guard p == end else { throw fail("the central directory has \(end - p) bytes after its \(dir.entryCount) entries", at: p) }
        try checkNoOverlap(entries, directoryStart: dir.offset)
        return entries
    }

    // MARK: End records

    private func findDirectory() throws -> Directory {
        let eocdSize = ZipFormat.endOfCentralDirectorySize
        guard region.count >= eocdSize else {
            throw fail("\(region.count) bytes are too few for a zip archive", at: 0)
        }
        // The EOCD (plus its comment) must end the region exactly; search backwards over the comment range.
        var pos = region.count - eocdSize
        let lowest = Swift.max(0, region.count - eocdSize - 0xFFFF)
        var found: Int?
        while pos >= lowest {
            if bytes.u32(pos) == ZipFormat.endOfCentralDirectorySignature,
               Int(bytes.u16(pos + 20)) == region.count - pos - eocdSize {
                found = pos
                break
            }
            pos -= 1
        }
        guard let eocd = found else {
            throw fail("no end-of-central-directory record at the end of the archive", at: region.count,
                       hint: "the item is truncated, or its offset/length in the metadata is wrong")
        }
        let disk = bytes.u16(eocd + 4), cdDisk = bytes.u16(eocd + 6)
        var entriesOnDisk = Int(bytes.u16(eocd + 8)), total = Int(bytes.u16(eocd + 10))
        var cdSize = Int(bytes.u32(eocd + 12)), cdOffset = Int(bytes.u32(eocd + 16))
        var limit = eocd
        let locator = eocd - ZipFormat.zip64LocatorSize
        if locator >= 0, bytes.u32(locator) == ZipFormat.zip64LocatorSignature {
            let z = try zip64End(locator: locator)
            (entriesOnDisk, total, cdSize, cdOffset) = (z.onDisk, z.total, z.size, z.offset)
            limit = z.position
        } else {
            guard disk == 0, cdDisk == 0 else {
                throw fail("multi-disk archives are not supported", at: eocd, code: .zipUnsupported, hint: nil)
            }
            if total == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
                throw fail("the end record asks for zip64 values but there is no zip64 locator", at: eocd)
            }
        }
        guard entriesOnDisk == total else {
            throw fail("multi-disk archives are not supported", at: eocd, code: .zipUnsupported, hint: nil)
        }
        guard inside(cdOffset, cdSize), cdOffset + cdSize <= limit else {
            throw fail("the central directory (\(cdSize) bytes at \(cdOffset)) lies outside the archive", at: eocd)
        }
        guard total <= cdSize / ZipFormat.centralHeaderSize else {
            throw fail("\(total) entries cannot fit a central directory of \(cdSize) bytes", at: eocd)
        }
        return Directory(entryCount: total, offset: cdOffset, size: cdSize, limit: limit)
    }

    private func zip64End(locator: Int) throws -> (onDisk: Int, total: Int, size: Int, offset: Int, position: Int) {
        let disk = bytes.u32(locator + 4), disks = bytes.u32(locator + 16)
        guard disk == 0, disks <= 1 else { throw fail("multi-disk archives are not supported", at: locator, code: .zipUnsupported, hint: nil) }
        let at64 = bytes.u64(locator + 8)
        guard at64 <= UInt64(locator), inside(Int(at64), ZipFormat.zip64EndSize),
              Int(at64) + ZipFormat.zip64EndSize <= locator else {
            throw fail("the zip64 locator points outside the archive", at: locator)
        }
        let z = Int(at64)
        guard bytes.u32(z) == ZipFormat.zip64EndSignature else { throw fail("missing zip64 end-of-central-directory record", at: z) }
        guard bytes.u32(z + 16) == 0, bytes.u32(z + 20) == 0 else {
            throw fail("multi-disk archives are not supported", at: z, code: .zipUnsupported, hint: nil)
        }
        func int(_ at: Int) throws -> Int {
            let v = bytes.u64(at)
            guard v <= UInt64(region.count) else { throw fail("zip64 field of \(v) exceeds the archive's size", at: at) }
            return Int(v)
        }
        return (try int(z + 24), try int(z + 32), try int(z + 40), try int(z + 48), z)
    }

    // MARK: Entries

    private func centralEntry(at p: Int, end: Int, index: Int) throws -> (entry: TorchZipReader.Entry, next: Int) {
        let h = ZipFormat.centralHeaderSize
        guard p + h <= end else { throw fail("central directory entry \(index) is cut off", at: p) }
        guard bytes.u32(p) == ZipFormat.centralHeaderSignature else { throw fail("bad central directory signature", at: p) }
        let flags = bytes.u16(p + 8), method = bytes.u16(p + 10)
        let crc = bytes.u32(p + 16)
        var csize = Int(bytes.u32(p + 20)), usize = Int(bytes.u32(p + 24))
        let nameLen = Int(bytes.u16(p + 28)), extraLen = Int(bytes.u16(p + 30)), commentLen = Int(bytes.u16(p + 32))
        let diskStart = bytes.u16(p + 34)
        var lho = Int(bytes.u32(p + 42))
        let next = p + h + nameLen + extraLen + commentLen
        guard next <= end else { throw fail("central directory entry \(index) is cut off", at: p) }
        let name = try decodeName(p + h, nameLen, at: p)
        guard flags & ZipFormat.flagEncrypted == 0 else {
            throw fail("record '\(name)' is encrypted", at: p, code: .zipUnsupported, hint: "torch.save never encrypts")
        }
        guard method == 0 else {
            throw fail("record '\(name)' is compressed (method \(method)); torch archives store records uncompressed", at: p,
                       code: .zipUnsupported, hint: "re-save the file with torch.save, or unzip and re-zip with -0")
        }
        // Zip64 extra: 8-byte values for exactly the 32-bit fields that hold their maximum, in this order.
        var e = p + h + nameLen
        let extraEnd = e + extraLen
        while e + 4 <= extraEnd {
            let id = bytes.u16(e), size = Int(bytes.u16(e + 2))
            guard e + 4 + size <= extraEnd else { throw fail("extra field of record '\(name)' is cut off", at: e) }
            if id == ZipFormat.zip64ExtraID {
                var f = e + 4
                func take() throws -> Int {
                    guard f + 8 <= e + 4 + size else { throw fail("zip64 field of record '\(name)' is too short", at: e) }
                    let v = bytes.u64(f)
                    f += 8
                    guard v <= UInt64(region.count) else { throw fail("zip64 value \(v) of record '\(name)' exceeds the archive", at: e) }
                    return Int(v)
                }
                if usize == 0xFFFF_FFFF { usize = try take() }
                if csize == 0xFFFF_FFFF { csize = try take() }
                if lho == 0xFFFF_FFFF { lho = try take() }
            }
            e += 4 + size
        }
        guard e == extraEnd else { throw fail("extra fields of record '\(name)' are malformed", at: p) }
        guard diskStart == 0 || diskStart == 0xFFFF else {
            throw fail("multi-disk archives are not supported", at: p, code: .zipUnsupported, hint: nil)
        }
        guard csize == usize else { throw fail("stored record '\(name)' has different compressed and plain sizes", at: p) }
        let dataOffset = try localHeader(lho, name: name)
        guard inside(dataOffset, usize) else {
            throw fail("record '\(name)' (\(usize) bytes at \(dataOffset)) reaches past the end of the archive", at: lho)
        }
        let slash = name.firstIndex(of: "/")
        let record = slash.map { String(name[name.index(after: $0)...]) } ?? name
        return (TorchZipReader.Entry(name: name, recordName: record, dataOffset: dataOffset, size: usize, crc32: crc,
                                     localHeaderOffset: lho), next)
    }

    /// Checks a local header and returns where its payload starts.
    private func localHeader(_ lho: Int, name: String) throws -> Int {
        let h = ZipFormat.localHeaderSize
        guard inside(lho, h) else { throw fail("the local header of '\(name)' lies outside the archive", at: lho) }
        guard bytes.u32(lho) == ZipFormat.localHeaderSignature else { throw fail("bad local header signature for '\(name)'", at: lho) }
        let nameLen = Int(bytes.u16(lho + 26)), extraLen = Int(bytes.u16(lho + 28))
        guard inside(lho + h, nameLen + extraLen) else { throw fail("the local header of '\(name)' is cut off", at: lho) }
        let localName = try decodeName(lho + h, nameLen, at: lho)
        guard localName == name else {
            throw fail("local header name '\(localName)' differs from the central directory's '\(name)'", at: lho)
        }
        guard bytes.u16(lho + 8) == 0 else {
            throw fail("record '\(name)' is compressed in its local header", at: lho, code: .zipUnsupported, hint: nil)
        }
        return lho + h + nameLen + extraLen
    }

    private func decodeName(_ at: Int, _ count: Int, at header: Int) throws -> String {
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: region[at..<(at + count)]), as: UTF8.self), !s.isEmpty else {
            throw fail("a record name is empty or not UTF-8", at: header)
        }
        return s
    }

    /// Local headers and payloads must not overlap each other or the central directory.
    private func checkNoOverlap(_ entries: [TorchZipReader.Entry], directoryStart: Int) throws {
        let sorted = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (i, e) in sorted.enumerated() {
            let end = e.dataOffset + e.size
            let nextStart = i + 1 < sorted.count ? sorted[i + 1].localHeaderOffset : directoryStart
            guard end <= nextStart else {
                throw fail("record '\(e.name)' overlaps the next record or the central directory", at: e.localHeaderOffset)
            }
        }
    }
}

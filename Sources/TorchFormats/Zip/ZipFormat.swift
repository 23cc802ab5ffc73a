/// Zip record signatures, fixed sizes and the torch.save conventions (PKWARE APPNOTE 6.3; torch's
/// `caffe2/serialize/inline_container.cc`).
enum ZipFormat {
    static let localHeaderSignature: UInt32 = 0x0403_4B50
    static let centralHeaderSignature: UInt32 = 0x0201_4B50
    static let endOfCentralDirectorySignature: UInt32 = 0x0605_4B50
    static let zip64EndSignature: UInt32 = 0x0606_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50

    static let localHeaderSize = 30
    static let centralHeaderSize = 46
    static let endOfCentralDirectorySize = 22
    static let zip64EndSize = 56
    static let zip64LocatorSize = 20

    static let zip64ExtraID: UInt16 = 0x0001
    /// torch's padding field: id 'FB', filled with 'Z' bytes up to the next aligned offset.
    static let paddingExtraID: UInt16 = 0x4246
    static let paddingByte: UInt8 = 0x5A
    /// torch.save aligns every record's payload to 64 bytes from the archive start (`kFieldAlignment`).
    static let alignment = 64

    /// Sizes and offsets at or above this need zip64 fields (the 32-bit field then holds 0xFFFFFFFF).
    static let zip64Threshold = 0xFFFF_FFFF

    static let flagEncrypted: UInt16 = 0x0001
    static let flagDataDescriptor: UInt16 = 0x0008
    static let flagUTF8: UInt16 = 0x0800
}

/// Little-endian field reads at checked offsets of a byte region.
struct ZipBytes {
    let base: UnsafeRawBufferPointer

    func u16(_ at: Int) -> UInt16 { UInt16(base[at]) | UInt16(base[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
}

/// Little-endian field writes for headers.
struct ZipEmitter {
    var bytes: [UInt8] = []

    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    mutating func u32(_ v: UInt32) { u16(UInt16(v & 0xFFFF)); u16(UInt16(v >> 16)) }
    mutating func u64(_ v: UInt64) { u32(UInt32(v & 0xFFFF_FFFF)); u32(UInt32(v >> 32)) }
    /// A 32-bit size or offset field: the value, or 0xFFFFFFFF when it lives in the zip64 extra field.
    mutating func u32OrMax(_ v: Int) { u32(v >= ZipFormat.zip64Threshold ? 0xFFFF_FFFF : UInt32(v)) }
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

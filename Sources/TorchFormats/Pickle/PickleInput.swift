import Foundation

/// A bounds-checked cursor over pickle bytes. Every read checks the remaining length first, so a
/// truncated or lying stream gives `pickleTruncated` with the offset, never an out-of-bounds read.
struct PickleInput {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    /// Added to positions in errors (the pickle's offset inside its file).
    let baseOffset: Int
    let file: String?

    init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int, file: String?) {
        self.bytes = bytes
        self.baseOffset = baseOffset
        self.file = file
    }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position >= bytes.count }

    func truncated(_ what: String, at pos: Int) -> TorchFormatsError {
        TorchFormatsError(.pickleTruncated, "pickle ends inside \(what)", file: file, byteOffset: baseOffset + pos,
                          hint: "the file is truncated or is not a pickle")
    }

    mutating func byte(_ what: String) throws -> UInt8 {
        guard position < bytes.count else { throw truncated(what, at: position) }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func take(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw truncated(what, at: position) }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    mutating func u16(_ what: String) throws -> Int {
        let b = try take(2, what)
        return Int(b[0]) | Int(b[1]) << 8
    }

    mutating func u32(_ what: String) throws -> Int {
        let b = try take(4, what)
        return Int(b[0]) | Int(b[1]) << 8 | Int(b[2]) << 16 | Int(b[3]) << 24
    }

    mutating func i32(_ what: String) throws -> Int { Int(Int32(truncatingIfNeeded: try u32(what))) }

    /// A u64 length; values that do not fit `Int` cannot fit the input either, so they are truncation.
    mutating func u64(_ what: String) throws -> Int {
        let start = position
        let b = try take(8, what)
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(b[i]) }
        guard v <= UInt64(Int.max) else { throw truncated(what, at: start) }
        return Int(v)
    }

    /// Bytes up to (not including) the next `\n`, which is consumed.
    mutating func line(_ what: String) throws -> [UInt8] {
        let start = position
        var i = position
        while i < bytes.count, bytes[i] != 0x0A { i += 1 }
        guard i < bytes.count else { throw truncated(what, at: start) }
        let out = Array(bytes[position..<i])
        position = i + 1
        return out
    }

    mutating func textLine(_ what: String, at opOffset: Int) throws -> String {
        let l = try line(what)
        guard let s = String(bytes: l, encoding: .utf8) else {
            throw TorchFormatsError(.pickleInvalid, "\(what) is not UTF-8 text", file: file, byteOffset: baseOffset + opOffset)
        }
        return s
    }
}

/// Decoders for the text forms of protocol 0 (rare in torch files, but part of the format).
enum PickleText {
    /// Decimal text (optionally signed) as an Int or, when too large, as LONG-style little-endian bytes.
    static func integer(_ text: String) -> PickleValue? {
        var t = Substring(text)
        if let i = Int(t) { return .int(i) }
        var negative = false
        if t.hasPrefix("-") { negative = true; t = t.dropFirst() } else if t.hasPrefix("+") { t = t.dropFirst() }
        guard !t.isEmpty, t.count <= 10_000, t.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        // Magnitude as little-endian base-256 digits, by repeated multiply-add (bounded by the length check).
        var mag: [UInt8] = [0]
        for ch in t.utf8 {
            var carry = Int(ch - 0x30)
            for k in 0..<mag.count {
                let v = Int(mag[k]) * 10 + carry
                mag[k] = UInt8(v & 0xFF)
                carry = v >> 8
            }
            while carry > 0 { mag.append(UInt8(carry & 0xFF)); carry >>= 8 }
        }
        mag.append(0)  // room for the sign bit
        if negative {
            var carry = 1
            for k in 0..<mag.count {
                let v = Int(~mag[k]) + carry
                mag[k] = UInt8(v & 0xFF)
                carry = v >> 8
            }
        }
        return PickleLong.value(fromLittleEndian: mag)
    }

    /// The body of a STRING argument: a Python `repr` of a byte string in single or double quotes.
    static func quotedString(_ raw: [UInt8]) -> [UInt8]? {
        guard raw.count >= 2, let q = raw.first, q == 0x27 || q == 0x22, raw.last == q else { return nil }
        let body = raw[1..<(raw.count - 1)]
        var out = [UInt8]()
        var i = body.startIndex
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        while i < body.endIndex {
            let c = body[i]
            i += 1
            guard c == 0x5C else { out.append(c); continue }
            guard i < body.endIndex else { return nil }
            let e = body[i]
            i += 1
            switch e {
            case 0x0A: break
            case 0x5C, 0x27, 0x22: out.append(e)
            case 0x61: out.append(0x07)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x76: out.append(0x0B)
            case 0x78:
                guard i + 1 < body.endIndex, let h = hex(body[i]), let l = hex(body[i + 1]) else { return nil }
                out.append(h << 4 | l)
                i += 2
            case 0x30...0x37:
                var v = Int(e - 0x30)
                var n = 1
                while n < 3, i < body.endIndex, (0x30...0x37).contains(body[i]) {
                    v = v * 8 + Int(body[i] - 0x30)
                    i += 1
                    n += 1
                }
                out.append(UInt8(v & 0xFF))
            default:
                out.append(0x5C)
                out.append(e)
            }
        }
        return out
    }

    /// The body of a UNICODE argument: raw-unicode-escape (`\uXXXX`, `\UXXXXXXXX`, other bytes latin-1).
    static func rawUnicodeEscape(_ raw: [UInt8]) -> String? {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == 0x5C, i + 1 < raw.count, raw[i + 1] == 0x75 || raw[i + 1] == 0x55 {
                let n = raw[i + 1] == 0x75 ? 4 : 8
                guard i + 2 + n <= raw.count,
                      let text = String(bytes: raw[(i + 2)..<(i + 2 + n)], encoding: .ascii),
                      let v = UInt32(text, radix: 16), let s = Unicode.Scalar(v) else { return nil }
                scalars.append(s)
                i += 2 + n
            } else {
                scalars.append(Unicode.Scalar(c))
                i += 1
            }
        }
        return String(scalars)
    }
}

/// LONG1/LONG4 integers: little-endian two's complement of any length.
enum PickleLong {
    /// `.int` when the value fits, else `.bigInt` with the minimal byte string.
    static func value(fromLittleEndian bytes: [UInt8]) -> PickleValue {
        if bytes.isEmpty { return .int(0) }
        let negative = bytes.last! & 0x80 != 0
        // Strip redundant sign-extension bytes.
        var b = bytes
        while b.count > 1 {
            let last = b[b.count - 1], prev = b[b.count - 2]
            if (last == 0 && prev & 0x80 == 0) || (last == 0xFF && prev & 0x80 != 0) { b.removeLast() } else { break }
        }
        if b.count <= 8 {
            var v: UInt64 = negative ? UInt64.max : 0
            for i in (0..<b.count).reversed() { v = v << 8 | UInt64(b[i]) }
            if b.count < 8 && negative {
                // The loop above shifted ones in from the top only for the filled part; sign-extend.
                v |= UInt64.max << UInt64(8 * b.count)
            }
            return .int(Int(bitPattern: UInt(v)))
        }
        return .bigInt(b)
    }

    /// Minimal two's complement little-endian bytes of `v` (empty for 0, as Python's `encode_long`).
    static func bytes(of v: Int) -> [UInt8] {
        if v == 0 { return [] }
        var out = [UInt8]()
        var x = v
        while true {
            out.append(UInt8(truncatingIfNeeded: x))
            let done = (x >> 7 == 0) || (x >> 7 == -1)
            x >>= 8
            if done { break }
        }
        return out
    }
}

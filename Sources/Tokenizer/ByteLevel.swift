/// GPT-2's byte-level alphabet: every byte is shown as one printable Unicode scalar, so that BPE runs on
/// text with no control or whitespace characters. Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand
/// for themselves; the other 68 bytes map, in byte order, to U+0100 onwards.
enum ByteLevel {
    /// The scalar standing for each byte.
    static let scalarOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each alphabet scalar stands for.
    static let byteOfScalar: [Unicode.Scalar: UInt8] = {
        var map = [Unicode.Scalar: UInt8]()
        for (b, s) in scalarOfByte.enumerated() { map[s] = UInt8(b) }
        return map
    }()

    /// The bytes a byte-level token stands for; nil when a scalar is outside the alphabet (an added token
    /// such as `<|im_end|>` written with other characters), which the decoder then emits as its UTF-8.
    static func bytes(of token: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = byteOfScalar[s] else { return nil }
            out.append(b)
        }
        return out
    }
}

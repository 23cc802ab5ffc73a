/// The EXIF orientation of an image file and the transposition that undoes it, as transformers'
/// `load_image` applies it to a file (`PIL.ImageOps.exif_transpose`): a phone photo stored sideways with
/// orientation 6 reaches the processor upright.
///
/// The tag is looked for where Pillow reads EXIF: the first `Exif\0\0` APP1 segment of a JPEG (before the
/// first scan) and the first `eXIf` chunk of a PNG. Only IFD0's Orientation (0x0112, SHORT) is read, every
/// offset bounds-checked; EXIF that cannot be read counts as orientation 1, as Pillow ignores it.
public enum ExifOrientation {
    /// 1 … 8 (1: as stored).
    public static func orientation(of bytes: UnsafeRawBufferPointer, format: ImageDecoder.Format) -> Int {
        let exif: UnsafeRawBufferPointer?
        switch format {
        case .jpeg: exif = jpegExif(bytes)
        case .png: exif = pngExif(bytes)
        }
        return exif.flatMap(tiffOrientation) ?? 1
    }

    static func be16(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
    static func be32(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int { be16(b, i) << 16 | be16(b, i + 2) }

    static func jpegExif(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }                         // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return nil }             // first scan or end: no EXIF before it
            let length = be16(b, i + 2)
            guard length >= 2, i + 2 + length <= b.count else { return nil }
            let body = UnsafeRawBufferPointer(rebasing: b[(i + 4)..<(i + 2 + length)])
            if marker == 0xE1, body.count >= 6, Array(body[0..<6]) == Array("Exif\0\0".utf8) {
                return UnsafeRawBufferPointer(rebasing: body[6...])
            }
            i += 2 + length
        }
        return nil
    }

    static func pngExif(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = 8
        while i + 12 <= b.count {
            let length = be32(b, i)
            guard length <= b.count - i - 12 else { return nil }
            let type = Array(b[(i + 4)..<(i + 8)])
            if type == Array("eXIf".utf8) { return UnsafeRawBufferPointer(rebasing: b[(i + 8)..<(i + 8 + length)]) }
            if type == Array("IEND".utf8) { return nil }
            i += 12 + length
        }
        return nil
    }

    /// IFD0's Orientation in a TIFF structure.
    static func tiffOrientation(_ t: UnsafeRawBufferPointer) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ i: Int) -> Int { little ? Int(t[i]) | Int(t[i + 1]) << 8 : Int(t[i]) << 8 | Int(t[i + 1]) }
        func u32(_ i: Int) -> Int { little ? u16(i) | u16(i + 2) << 16 : u16(i) << 16 | u16(i + 2) }
        guard u16(2) == 42 else { return nil }
        let ifd = u32(4)
        guard ifd <= t.count - 2 else { return nil }
        let entries = u16(ifd)
        for k in 0..<entries {
            let e = ifd + 2 + 12 * k
            guard e <= t.count - 12 else { return nil }
            if u16(e) == 0x0112 {
                guard u16(e + 2) == 3, u32(e + 4) >= 1 else { return nil }   // SHORT
                let v = u16(e + 8)
                return (1...8).contains(v) ? v : nil
            }
        }
        return nil
    }
}

extension RGBImage {
    /// The image as Pillow's `exif_transpose` leaves it for EXIF orientation `o` (2 mirror, 3 rotate 180,
    /// 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise).
    public func oriented(_ o: Int) -> RGBImage {
        guard (2...8).contains(o) else { return self }
        let (h, w) = (height, width)
        let swaps = o >= 5
        let (oh, ow) = swaps ? (w, h) : (h, w)
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<oh {
            for x in 0..<ow {
                let (sy, sx): (Int, Int)
                switch o {
                case 2: (sy, sx) = (y, w - 1 - x)
                case 3: (sy, sx) = (h - 1 - y, w - 1 - x)
                case 4: (sy, sx) = (h - 1 - y, x)
                case 5: (sy, sx) = (x, y)
                case 6: (sy, sx) = (h - 1 - x, y)
                case 7: (sy, sx) = (h - 1 - x, w - 1 - y)
                default: (sy, sx) = (x, w - 1 - y)
                }
                let d = (y * ow + x) * 3, s = (sy * w + sx) * 3
                out[d] = pixels[s]
                out[d + 1] = pixels[s + 1]
                out[d + 2] = pixels[s + 2]
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}

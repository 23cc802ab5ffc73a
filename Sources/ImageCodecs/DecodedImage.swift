/// An 8-bit RGB image, row-major and interleaved (HWC), as PIL's `Image.convert("RGB")` gives it.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// height·width·3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB buffer size does not match \(width)×\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Composites straight-alpha RGBA onto opaque white with PIL's integer `alpha_composite` arithmetic
    /// (what transformers' `convert_to_rgb` does with a transparent image): with the background's alpha at
    /// 255 its coefficients reduce to a·2⁷ and (255−a)·2⁷, and each sum is divided by 255 with PIL's shifts.
    public static func compositingOnWhite(rgba: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> RGBImage {
        let n = width * height
        var out = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n {
            let a = UInt32(rgba[i * 4 + 3])
            let coef1 = a << 7, coef2 = (255 - a) << 7
            for c in 0..<3 {
                let t = UInt32(rgba[i * 4 + c]) * coef1 + 255 * coef2 + (0x80 << 7)
                out[i * 3 + c] = UInt8((((t >> 8) + t) >> 8) >> 7)
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

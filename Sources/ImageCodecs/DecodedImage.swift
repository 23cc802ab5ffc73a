/// An 8-bit RGB image, row-major and interleaved (HWC), as transformers' image processor sees an image file.
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

}

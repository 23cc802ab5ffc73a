import ImageCodecs
import TensorCore

extension FuzzTargets {
    /// The bytes are an `--image` file: PNG or JPEG (by signature) decoded through libpng / libjpeg-turbo
    /// and the C shim that keeps their longjmp error paths out of Swift. The pixel cap is lowered so a
    /// plausible header cannot make one input allocate hundreds of megabytes.
    public static let image = FuzzTarget(
        name: "image", summary: "PNG / JPEG bytes → CImageCodecs (libpng, libjpeg-turbo) → RGB (alpha composited)"
    ) { bytes in
        let image = try ImageDecoder.decode(bytes, maxPixels: 1 << 22)
        FuzzCheck.require(image.width > 0 && image.height > 0 && image.pixels.count == image.width * image.height * 3,
                          "decoded \(image.width)×\(image.height) with \(image.pixels.count) bytes", target: "image")
    }
}

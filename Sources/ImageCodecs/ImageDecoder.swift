import CImageCodecs
import TensorCore

/// Decodes PNG (libpng) and JPEG (libjpeg-turbo) files into RGB the way transformers' image processors
/// see an image file (its `load_image`: EXIF orientation undone, then `convert("RGB")`; then the processor's
/// `convert_to_rgb`): palettes expanded, gray replicated, alpha dropped, a tRNS colour key turned white. The format is
/// told by the signature, never by the file name. libpng's and libjpeg's longjmp error paths end in the C
/// shim (`CImageCodecs`); here they are typed `ImageError`s naming the file.
public enum ImageDecoder {
    public enum Format: String, Sendable { case png = "PNG", jpeg = "JPEG" }

    /// The format of a file's first bytes, or nil.
    public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
        if bytes.count >= 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Reads and decodes one image file (memory-mapped; at most `Limits.imageFileBytes` bytes and
    /// `Limits.imagePixels` pixels).
    public static func decode(path: String, maxPixels: Int = Limits.imagePixels) throws -> RGBImage {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch {
            throw ImageError(.io, "cannot read the image", file: path, hint: "check the path given to --image", underlying: error)
        }
        guard file.size <= Limits.imageFileBytes else {
            throw ImageError(.tooLarge, "the image file has \(file.size) bytes, above the limit of \(Limits.imageFileBytes)", file: path)
        }
        guard let base = file.base, file.size > 0 else { throw ImageError(.corrupt, "the image file is empty", file: path) }
        do {
            return try decode(UnsafeRawBufferPointer(start: base, count: file.size), maxPixels: maxPixels)
        } catch var e as ImageError {
            e.file = path
            throw e
        }
    }

    /// Decodes PNG or JPEG bytes, turned upright by their EXIF orientation unless `applyOrientation` is false.
    public static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int = Limits.imagePixels,
                              applyOrientation: Bool = true) throws -> RGBImage {
        guard let format = format(of: bytes), let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw ImageError(.unsupported, "not a PNG or JPEG file (unrecognised signature)", byteOffset: 0,
                             hint: "convert the image to PNG or JPEG")
        }
        var image = ckpt_image()
        defer { ckpt_image_free(&image) }
        let status: Int32
        switch format {
        case .png: status = ckpt_decode_png(base, bytes.count, UInt64(maxPixels), &image)
        case .jpeg: status = ckpt_decode_jpeg(base, bytes.count, UInt64(maxPixels), &image)
        }
        guard status == Int32(CKPT_IMAGE_OK), let pixels = image.pixels else {
            let message = withUnsafeBytes(of: &image.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let code: ImageErrorCode
            let hint: String?
            switch status {
            case Int32(CKPT_IMAGE_UNSUPPORTED): (code, hint) = (.unsupported, "convert the image to 8-bit RGB PNG or JPEG")
            case Int32(CKPT_IMAGE_TOO_LARGE): (code, hint) = (.tooLarge, "downscale the image; the processor resizes it to at most max_pixels anyway")
            case Int32(CKPT_IMAGE_NO_MEMORY): (code, hint) = (.io, nil)
            default: (code, hint) = (.corrupt, "the file is damaged or truncated; re-export it")
            }
            throw ImageError(code, "\(format.rawValue) image: \(message)", hint: hint)
        }
        let width = Int(image.width), height = Int(image.height), channels = Int(image.channels)
        let buffer = UnsafeBufferPointer(start: pixels, count: width * height * channels)
        guard channels == 3 else { throw ImageError(.unsupported, "\(format.rawValue) image decoded to \(channels) channels") }
        let rgb = RGBImage(width: width, height: height, pixels: Array(buffer))
        return applyOrientation ? rgb.oriented(ExifOrientation.orientation(of: bytes, format: format)) : rgb
    }
}

import TensorCore

/// The codes of image decoding errors.
public enum ImageErrorCode: String, ErrorCode {
    /// The file is not a well-formed PNG or JPEG (bad signature, CRC, truncated data, bad markers).
    case corrupt
    /// A well-formed image of a kind the processor does not handle (CMYK JPEG, 16-bit grayscale PNG, other formats).
    case unsupported
    /// The image is larger than `Limits.imagePixels` / `Limits.imageFileBytes`, or has a side of zero.
    case tooLarge
    /// The file could not be read, or memory ran out.
    case io
}

/// The error type of the ImageCodecs module (the project's one error shape).
public typealias ImageError = ModuleError<ImageErrorCode>

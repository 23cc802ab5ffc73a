import TensorCore

/// The codes of everything that can be wrong with a safetensors file or folder. The cases mirror the reference Rust
/// crate's `SafeTensorError`, one to one where it has one, and each carries the file, the key and the
/// byte offset where they are known.
public enum SafeTensorsErrorCode: String, ErrorCode {
    /// Fewer than 8 bytes: not even the header length fits.
    case headerTooSmall
    /// The declared header length exceeds 100,000,000 bytes.
    case headerTooLarge
    /// 8 + header length overflows or reaches past the end of the file.
    case invalidHeaderLength
    /// The header is not UTF-8.
    case invalidHeaderUTF8
    /// The header is not a JSON object of the expected form.
    case invalidHeaderDeserialization
    /// The header does not start with `{`.
    case invalidHeaderStart
    /// A tensor's offsets are out of order, overlap, or leave a gap.
    case invalidOffset
    /// The byte range does not match shape × dtype.
    case tensorInvalidInfo
    /// shape × dtype overflows.
    case validationOverflow
    /// A sub-byte dtype whose bit count is not a whole number of bytes.
    case misalignedSlice
    /// The tensors do not cover the whole data buffer.
    case metadataIncompleteBuffer
    /// `__metadata__` is not a string-to-string map.
    case invalidMetadata
    /// The same tensor name appears twice.
    case duplicateKey
    /// A dtype string this library does not know.
    case unknownDType
    /// A tensor asked for by name is not there.
    case tensorNotFound
    /// An index file that is malformed, names a bad shard, or disagrees with the shards.
    case invalidIndex
    /// A folder with no safetensors files.
    case noWeights
    /// I/O failure.
    case io
}

/// The error type of the SafeTensors module.
public typealias SafeTensorsError = ModuleError<SafeTensorsErrorCode>

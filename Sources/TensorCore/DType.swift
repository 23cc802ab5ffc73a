/// Element types, spelled as the safetensors format spells them.
///
/// The cases are declared in increasing alignment order, as the reference Rust crate declares them:
/// the safetensors writer sorts tensors by descending dtype order so that every tensor stays naturally
/// aligned once the header is padded to 8 bytes.
public enum DType: String, CaseIterable, Sendable, Hashable, Comparable, CustomStringConvertible {
    case bool = "BOOL"
    case f4 = "F4"
    case f6e2m3 = "F6_E2M3"
    case f6e3m2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case f8e8m0 = "F8_E8M0"
    case f8e4m3fnuz = "F8_E4M3FNUZ"
    case f8e5m2fnuz = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Size of one element in bits (4 and 6 for the sub-byte float formats).
    public var bitSize: Int {
        switch self {
        case .f4: return 4
        case .f6e2m3, .f6e3m2: return 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Size of one element in bytes, or nil for the sub-byte formats (which cannot be sliced per element).
    public var byteSize: Int? { bitSize % 8 == 0 ? bitSize / 8 : nil }

    /// True for the formats the forward pass and the `--dtype` cast can convert to and from fp32.
    public var isConvertibleFloat: Bool { self == .f32 || self == .bf16 || self == .f16 || self == .f64 }

    /// Position in the alignment order (the declaration order).
    public var alignmentRank: Int { DType.allCases.firstIndex(of: self)! }

    public static func < (lhs: DType, rhs: DType) -> Bool { lhs.alignmentRank < rhs.alignmentRank }

    public var description: String { rawValue }
}

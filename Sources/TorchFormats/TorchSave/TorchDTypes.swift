import TensorCore

/// The names torch uses for element types: `torch.<dtype>` globals and the legacy `torch.<X>Storage`
/// classes (`torch.storage._dtype_to_storage_type_map`). Dtypes without a legacy storage class are saved
/// with `_rebuild_tensor_v3` and `torch.storage.UntypedStorage` (see the format reference, §2.3).
public enum TorchDTypes {
    /// `torch.<name>` → DType, for every torch dtype this library can hold (canonical names and aliases).
    public static let byTorchName: [String: DType] = [
        "float32": .f32, "float": .f32,
        "float64": .f64, "double": .f64,
        "float16": .f16, "half": .f16,
        "bfloat16": .bf16,
        "int64": .i64, "long": .i64,
        "int32": .i32, "int": .i32,
        "int16": .i16, "short": .i16,
        "int8": .i8,
        "uint8": .u8,
        "bool": .bool,
        "uint16": .u16, "uint32": .u32, "uint64": .u64,
        "complex64": .c64, "cfloat": .c64,
        "float8_e4m3fn": .f8e4m3, "float8_e5m2": .f8e5m2,
        "float8_e4m3fnuz": .f8e4m3fnuz, "float8_e5m2fnuz": .f8e5m2fnuz,
        "float8_e8m0fnu": .f8e8m0,
    ]

    /// torch dtypes that may appear in a pickle but have no DType here (refused when a tensor uses them).
    public static let unsupportedTorchNames: Set<String> = [
        "complex128", "cdouble", "complex32", "chalf", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
        "float4_e2m1fn_x2", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
    ]

    /// The canonical torch name of a DType (`torch.bfloat16` → "bfloat16"), nil for the sub-byte formats.
    public static func torchName(_ dtype: DType) -> String? {
        switch dtype {
        case .f32: return "float32"
        case .f64: return "float64"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .i64: return "int64"
        case .i32: return "int32"
        case .i16: return "int16"
        case .i8: return "int8"
        case .u8: return "uint8"
        case .bool: return "bool"
        case .u16: return "uint16"
        case .u32: return "uint32"
        case .u64: return "uint64"
        case .c64: return "complex64"
        case .f8e4m3: return "float8_e4m3fn"
        case .f8e5m2: return "float8_e5m2"
        case .f8e4m3fnuz: return "float8_e4m3fnuz"
        case .f8e5m2fnuz: return "float8_e5m2fnuz"
        case .f8e8m0: return "float8_e8m0fnu"
        case .f4, .f6e2m3, .f6e3m2: return nil
        }
    }

    /// Legacy typed storage classes (module `torch`) → the element type they hold.
    public static let byStorageClass: [String: DType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool, "ComplexFloatStorage": .c64,
    ]

    /// Storage classes torch knows but this library cannot hold.
    public static let unsupportedStorageClasses: Set<String> = [
        "ComplexDoubleStorage", "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage",
    ]

    /// The legacy storage class torch.save uses for `dtype`, nil when it uses `UntypedStorage` + v3.
    public static func storageClass(_ dtype: DType) -> String? {
        byStorageClass.first(where: { $0.value == dtype }).map(\.key)
    }
}

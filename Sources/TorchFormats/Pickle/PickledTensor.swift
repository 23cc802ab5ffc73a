import TensorCore

/// A tensor as a torch.save `data.pkl` describes it: a view (offset, size, stride) of a storage that
/// lives in the archive record `data/<key>`. Produced by the pickle reader from
/// `torch._utils._rebuild_tensor_v2/_v3` (and `_rebuild_parameter`); `TorchSaveFile` maps it to bytes.
public struct PickledTensor: Equatable, Sendable {
    /// The persistent id `('storage', <storage class>, key, location, numel)`.
    public struct Storage: Equatable, Sendable {
        /// `FloatStorage`, `BFloat16Storage`, … or `UntypedStorage`.
        public var className: String
        /// The record name under `data/`.
        public var key: String
        /// `cpu`, `cuda:0`, … (the bytes are the same; only the device differs).
        public var location: String
        /// Elements of `elementType` in the storage (bytes for `UntypedStorage`).
        public var numel: Int
        /// The storage's element type (`.u8` for `UntypedStorage`).
        public var elementType: DType

        public init(className: String, key: String, location: String, numel: Int, elementType: DType) {
            self.className = className
            self.key = key
            self.location = location
            self.numel = numel
            self.elementType = elementType
        }

        /// The storage's size in bytes, nil on overflow.
        public var byteCount: Int? { Shape.byteCount([numel], elementType) }
    }

    public var storage: Storage
    /// The tensor's element type.
    public var dtype: DType
    /// Offset of the first element in the storage, in elements of `dtype`.
    public var storageOffset: Int
    public var size: [Int]
    /// Strides in elements.
    public var stride: [Int]
    public var requiresGrad: Bool
    /// True when wrapped by `torch._utils._rebuild_parameter` (an `nn.Parameter`).
    public var isParameter: Bool

    public init(storage: Storage, dtype: DType, storageOffset: Int, size: [Int], stride: [Int], requiresGrad: Bool = false,
                isParameter: Bool = false) {
        self.storage = storage
        self.dtype = dtype
        self.storageOffset = storageOffset
        self.size = size
        self.stride = stride
        self.requiresGrad = requiresGrad
        self.isParameter = isParameter
    }

    /// True when the strides are the row-major strides of `size` (unit and empty axes may have any stride).
    public var isContiguous: Bool { Shape.isRowMajor(size, strides: stride) }

    /// True when the tensor covers its whole storage from the start (what DCP chunks must be).
    public var isCompact: Bool {
        guard let n = Shape.elementCount(size), let sb = storage.byteCount, let tb = Shape.byteCount(size, dtype) else { return false }
        _ = n
        return storageOffset == 0 && isContiguous && sb == tb
    }
}

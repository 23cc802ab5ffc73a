import TensorCore

/// A tensor to be stored by `TorchSaveWriter` (write side of `.tensorPayload`): the bytes of `box` of
/// `source`, converted to `dtype`, pickled with the size `shape`.
///
/// `shape` may differ from `box.sizes` only by unit axes (a DCP chunk of a stacked layer tensor is
/// saved as `(1, rows, cols)` while the source region is `rows × cols`), so row-major order is the same.
/// A class so that the same payload placed twice in a tree is stored once, as torch stores a shared storage once.
public final class TorchTensorPayload {
    public let source: TensorSource
    public let box: Box
    public let dtype: DType
    public let shape: [Int]

    /// - Throws: when the box lies outside the source, the shapes disagree, or the cast is impossible.
    public init(source: TensorSource, box: Box? = nil, dtype: DType? = nil, shape: [Int]? = nil) throws {
        let b = box ?? Box(shape: source.shape)
        let t = dtype ?? source.dtype
        let s = shape ?? b.sizes
        guard b.rank == source.shape.count, Box(shape: source.shape).contains(b) else {
            throw TorchFormatsError(.invalidPlan, "region \(b) lies outside the source tensor's shape \(Shape.describe(source.shape))")
        }
        guard s.filter({ $0 != 1 }) == b.sizes.filter({ $0 != 1 }) || (s.contains(0) && b.sizes.contains(0)
                                                                         && Shape.elementCount(s) == 0) else {
            throw TorchFormatsError(.invalidPlan, "pickled shape \(Shape.describe(s)) does not match the source region \(b)",
                                    hint: "the shapes may differ only by axes of size 1")
        }
        guard t.byteSize != nil else {
            throw TorchFormatsError(.invalidPlan, "torch.save cannot store \(t) tensors", hint: "sub-byte dtypes have no torch storage")
        }
        guard t == source.dtype || (t.isConvertibleFloat && source.dtype.isConvertibleFloat) else {
            throw TorchFormatsError(.invalidPlan, "cannot store a \(source.dtype) tensor as \(t)",
                                    hint: "only float types (F32, BF16, F16, F64) can be cast")
        }
        self.source = source
        self.box = b
        self.dtype = t
        self.shape = s
    }

    /// Bytes of the stored tensor.
    public var byteCount: Int { Shape.byteCount(shape, dtype) ?? 0 }
    /// Elements of the stored tensor.
    public var elementCount: Int { Shape.elementCount(shape) ?? 0 }
}

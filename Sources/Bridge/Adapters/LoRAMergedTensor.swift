import TensorCore

/// A base weight with its LoRA update folded in: `W + scale · (B·A)`, computed in fp32 region by region
/// when the writer asks for it (bounded memory: one requested box, its rows of B and columns of A), and
/// handed over as fp32 so that the writer casts it to the output dtype once.
public final class LoRAMergedTensor: TensorSource {
    public let base: TensorSource
    public let a: TensorSource
    public let b: TensorSource
    public let scale: Float
    public let dtype: DType
    public var shape: [Int] { base.shape }

    /// Holds the fp32 result of one region while the writer copies it.
    private final class Buffer {
        let pointer: UnsafeMutablePointer<Float>
        let count: Int
        init(count: Int) {
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            self.count = count
        }
        deinit { pointer.deallocate() }
    }

    /// `dtype`: the dtype the merged tensor reports (the base weight's unless a cast was requested).
    public init(base: TensorSource, a: TensorSource, b: TensorSource, scale: Double, dtype: DType) throws {
        guard base.shape.count == 2, a.shape.count == 2, b.shape.count == 2,
              a.shape[1] == base.shape[1], b.shape[0] == base.shape[0], a.shape[0] == b.shape[1] else {
            throw BridgeError(.shape, "LoRA A \(Shape.describe(a.shape)) and B \(Shape.describe(b.shape)) do not fit weight \(Shape.describe(base.shape))")
        }
        guard base.dtype.isConvertibleFloat, a.dtype.isConvertibleFloat, b.dtype.isConvertibleFloat else {
            throw BridgeError(.shape, "LoRA merge needs floating-point tensors, not \(base.dtype.rawValue)/\(a.dtype.rawValue)/\(b.dtype.rawValue)")
        }
        self.base = base
        self.a = a
        self.b = b
        self.scale = Float(scale)
        self.dtype = dtype
    }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        let rows = box.sizes[0], cols = box.sizes[1], r = a.shape[0]
        guard rows > 0, cols > 0 else { return [] }
        let out = Buffer(count: rows * cols)
        var bRows = [Float](repeating: 0, count: rows * r)
        var aCols = [Float](repeating: 0, count: r * cols)
        var delta = [Float](repeating: 0, count: cols)
        try base.read(box, as: .f32, into: UnsafeMutableRawPointer(out.pointer))
        try bRows.withUnsafeMutableBytes {
            try b.read(Box(offsets: [box.offsets[0], 0], sizes: [rows, r]), as: .f32, into: $0.baseAddress!)
        }
        try aCols.withUnsafeMutableBytes {
            try a.read(Box(offsets: [0, box.offsets[1]], sizes: [r, cols]), as: .f32, into: $0.baseAddress!)
        }
        // Row by row: delta = B[i, :] · A (summed over k in order, in fp32), then W[i, :] += scale · delta,
        // the order of Megatron-Bridge's `base + alpha / dim * (linear_out @ linear_in)`.
        let w = out.pointer
        do {
            aCols.withUnsafeBufferPointer { av in
                bRows.withUnsafeBufferPointer { bv in
                    delta.withUnsafeMutableBufferPointer { d in
                        for i in 0..<rows {
                            for j in 0..<cols { d[j] = 0 }
                            for k in 0..<r {
                                let bik = bv[i * r + k]
                                let arow = k * cols
                                for j in 0..<cols { d[j] += bik * av[arow + j] }
                            }
                            let wrow = i * cols
                            for j in 0..<cols { w[wrow + j] += scale * d[j] }
                        }
                    }
                }
            }
        }
        return [TensorPiece(box: box, data: .memory(base: UnsafeRawPointer(out.pointer), strides: [cols, 1], dtype: .f32, owner: out))]
    }
}

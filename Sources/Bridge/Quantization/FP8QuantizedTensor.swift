import TensorCore

/// One half of a weight quantized to fine-grained FP8 as torch computes it (`FP8Block.scales`,
/// `FP8Block.quantize`): the F8_E4M3 elements, or the F32 `scale_inv` grid
/// `[…leading, ceil(rows/bh), ceil(cols/bw)]`. Blocks lie over the last two axes, per leading index;
/// edge blocks may be partial (their amax is over the elements they have).
///
/// Computed when the writer asks for a region: the region is widened to whole blocks, read in fp32 from
/// the base tensor, and only the requested part is kept, so memory stays near one slab of blocks.
public final class FP8QuantizedTensor: TensorSource {
    public enum Part { case elements, scales }

    public let base: TensorSource
    public let part: Part
    public let block: (rows: Int, cols: Int)
    public var dtype: DType { part == .elements ? .f8e4m3 : .f32 }
    public let shape: [Int]

    public init(base: TensorSource, part: Part, block: (Int, Int), name: String) throws {
        let s = base.shape
        guard s.count >= 2, base.dtype.isConvertibleFloat else {
            throw BridgeError(.shape, "only float matrices (or stacks of them) can be quantized, not \(base.dtype) \(Shape.describe(s))", key: name)
        }
        self.base = base
        self.part = part
        self.block = block
        shape = part == .elements ? s : Array(s.dropLast(2)) + [FP8Block.blocks(s[s.count - 2], block.0), FP8Block.blocks(s[s.count - 1], block.1)]
    }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        guard Box(shape: shape).contains(box) else {
            throw TensorCoreError(.shape, "region \(box) lies outside the tensor's shape \(Shape.describe(shape))")
        }
        if box.isEmpty { return [] }
        let n = box.rank, full = base.shape
        let rows = full[n - 2], cols = full[n - 1]
        // The blocks the region touches, and the element region they span.
        let (b0, b1, d0, d1): (Int, Int, Int, Int)
        if part == .elements {
            b0 = box.offsets[n - 2] / block.rows; b1 = (box.offsets[n - 2] + box.sizes[n - 2] - 1) / block.rows + 1
            d0 = box.offsets[n - 1] / block.cols; d1 = (box.offsets[n - 1] + box.sizes[n - 1] - 1) / block.cols + 1
        } else {
            b0 = box.offsets[n - 2]; b1 = b0 + box.sizes[n - 2]; d0 = box.offsets[n - 1]; d1 = d0 + box.sizes[n - 1]
        }
        let er0 = b0 * block.rows, er1 = min(rows, b1 * block.rows), ec0 = d0 * block.cols, ec1 = min(cols, d1 * block.cols)
        let er = er1 - er0, ec = ec1 - ec0
        let lead = Array(box.offsets.dropLast(2)), leadSizes = Array(box.sizes.dropLast(2))
        let w = try base.readFloats(Box(offsets: lead + [er0, ec0], sizes: leadSizes + [er, ec]))
        let matrices = w.count / (er * ec)
        let out = ComputedBytes(byteCount: box.elementCount * dtype.byteSize!)
        let bR = b1 - b0, bC = d1 - d0
        for m in 0..<matrices {
            let wm = m * er * ec
            for bi in 0..<bR {
                for bj in 0..<bC {
                    let r = (bi * block.rows)..<min(er, (bi + 1) * block.rows), c = (bj * block.cols)..<min(ec, (bj + 1) * block.cols)
                    var amax: Float = 0
                    for i in r { for j in c { amax = max(amax, abs(w[wm + i * ec + j])) } }
                    let (scale, inverse) = FP8Block.scales(amax: amax)
                    if part == .scales {
                        out.pointer.storeBytes(of: inverse, toByteOffset: ((m * bR + bi) * bC + bj) * 4, as: Float.self)
                        continue
                    }
                    // Keep the elements inside the requested box (in its own coordinates).
                    let rOff = box.offsets[n - 2] - er0, cOff = box.offsets[n - 1] - ec0
                    for i in r where i >= rOff && i < rOff + box.sizes[n - 2] {
                        for j in c where j >= cOff && j < cOff + box.sizes[n - 1] {
                            let o = (m * box.sizes[n - 2] + i - rOff) * box.sizes[n - 1] + j - cOff
                            out.pointer.storeBytes(of: FP8Block.quantize(w[wm + i * ec + j], scale: scale), toByteOffset: o, as: UInt8.self)
                        }
                    }
                }
            }
        }
        return [TensorPiece(box: box, data: .memory(base: UnsafeRawPointer(out.pointer), strides: Shape.rowMajorStrides(box.sizes),
                                                   dtype: dtype, owner: out))]
    }
}

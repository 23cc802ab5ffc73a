import TensorCore

/// Raw memory a computed tensor piece points into, freed with the piece.
final class ComputedBytes {
    let pointer: UnsafeMutableRawPointer
    init(byteCount: Int) {
        pointer = .allocate(byteCount: max(byteCount, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }
    deinit { pointer.deallocate() }
}

/// A fine-grained FP8 weight seen dequantized: `w = float(q) · scale_inv[…, i // bh, j // bw]`, the
/// product in fp32 and one cast to `dtype` (round to nearest even), exactly as torch's
/// `QuantizedHuggingFaceStorageReader` and transformers' `_dequantize_fp8_weight` do. The block grid is
/// over the last two axes; leading axes (fused experts `[E, out, in]`) index separate matrices with
/// their own grids. Computed region by region when asked: memory is one requested box.
public final class FP8DequantizedTensor: TensorSource {
    public let quantized: TensorSource
    public let scales: TensorSource
    public let block: (rows: Int, cols: Int)
    public let dtype: DType
    public var shape: [Int] { quantized.shape }

    /// Checks the pair: `quantized` in F8_E4M3, `scales` in F32 or BF16 shaped
    /// `[…leading, ceil(rows/bh), ceil(cols/bw)]`. `name` and `file` go into the errors.
    public init(quantized: TensorSource, scales: TensorSource, block: (Int, Int), dtype: DType, name: String, file: String?) throws {
        try Self.check(quantized: (quantized.dtype, quantized.shape), scales: (scales.dtype, scales.shape), block: block, name: name, file: file)
        guard dtype.isConvertibleFloat else {
            throw BridgeError(.request, "FP8 weights dequantize to a float type, not \(dtype)", key: name)
        }
        self.quantized = quantized
        self.scales = scales
        self.block = block
        self.dtype = dtype
    }

    /// Checks an FP8 pair by dtype and shape alone (what a folder's headers say, before any data is read).
    public static func check(quantized: (DType, [Int]), scales: (DType, [Int]), block: (Int, Int), name: String, file: String?) throws {
        let s = quantized.1
        guard quantized.0 == .f8e4m3, s.count >= 2 else {
            throw BridgeError(.shape, "an FP8 weight must be an F8_E4M3 matrix (or stack of matrices), not \(quantized.0) \(Shape.describe(s))",
                              file: file, key: name)
        }
        guard scales.0 == .f32 || scales.0 == .bf16 else {
            throw BridgeError(.shape, "FP8 scale is \(scales.0); expected F32 or BF16", file: file, key: FP8QuantizationConfig.scaleName(of: name))
        }
        let want = Array(s.dropLast(2)) + [FP8Block.blocks(s[s.count - 2], block.0), FP8Block.blocks(s[s.count - 1], block.1)]
        guard scales.1 == want else {
            throw BridgeError(.shape, "FP8 scale has shape \(Shape.describe(scales.1)); weight \(Shape.describe(s)) in \(block.0)×\(block.1) blocks needs \(Shape.describe(want))",
                              file: file, key: FP8QuantizationConfig.scaleName(of: name),
                              hint: "check weight_block_size in config.json's quantization_config")
        }
    }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        guard Box(shape: shape).contains(box) else {
            throw TensorCoreError(.shape, "region \(box) lies outside the tensor's shape \(Shape.describe(shape))")
        }
        if box.isEmpty { return [] }
        let n = box.rank, rows = box.sizes[n - 2], cols = box.sizes[n - 1]
        let r0 = box.offsets[n - 2], c0 = box.offsets[n - 1]
        let sr0 = r0 / block.rows, sc0 = c0 / block.cols
        let srows = (r0 + rows - 1) / block.rows - sr0 + 1, scols = (c0 + cols - 1) / block.cols - sc0 + 1
        let q = try quantized.readBytes(box)
        let sbox = Box(offsets: Array(box.offsets.dropLast(2)) + [sr0, sc0], sizes: Array(box.sizes.dropLast(2)) + [srows, scols])
        let sc = try scales.readFloats(sbox)
        let matrices = box.elementCount / (rows * cols)
        let out = ComputedBytes(byteCount: box.elementCount * dtype.byteSize!)
        var row = [Float](repeating: 0, count: cols)
        FP8Block.decodeTable.withUnsafeBufferPointer { table in
            q.withUnsafeBufferPointer { qp in
                sc.withUnsafeBufferPointer { sp in
                    row.withUnsafeMutableBufferPointer { rp in
                        for m in 0..<matrices {
                            for i in 0..<rows {
                                let base = (m * rows + i) * cols
                                let srow = (m * srows + (r0 + i) / block.rows - sr0) * scols
                                // One scale per run of columns inside a block: no division per element.
                                var j = 0
                                while j < cols {
                                    let bj = (c0 + j) / block.cols
                                    let end = min(cols, (bj + 1) * block.cols - c0)
                                    let s = sp[srow + bj - sc0]
                                    while j < end {
                                        rp[j] = table[Int(qp[base + j])] * s
                                        j += 1
                                    }
                                }
                                FloatCast.convertRun(UnsafeRawPointer(rp.baseAddress!), .f32, out.pointer + base * dtype.byteSize!, dtype, count: cols)
                            }
                        }
                    }
                }
            }
        }
        return [TensorPiece(box: box, data: .memory(base: UnsafeRawPointer(out.pointer), strides: Shape.rowMajorStrides(box.sizes),
                                                   dtype: dtype, owner: out))]
    }
}

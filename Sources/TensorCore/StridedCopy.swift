import Foundation
import CTranspose

/// Copies N-dimensional strided regions between memory, casting float types when asked.
///
/// Dimensions are first simplified (unit axes dropped, adjacent axes merged when both sides are
/// contiguous across them), so the common cases become a handful of large `memcpy`s: whole tensors,
/// row ranges, and column blocks of row-major matrices. A swapped pair of inner axes (the fused-expert
/// transpose) takes a cache-blocked path. Anything else falls back to an element loop.
public enum StridedCopy {
    /// Copies `sizes` elements from `src` (strides in elements, dtype `srcType`) to `dst`.
    public static func copy(sizes: [Int], from src: UnsafeRawPointer, strides srcStrides: [Int], dtype srcType: DType,
                            to dst: UnsafeMutableRawPointer, strides dstStrides: [Int], dtype dstType: DType) throws {
        if sizes.contains(0) { return }
        var (dims, ss, ds) = simplify(sizes, srcStrides, dstStrides)
        if srcType == dstType {
            guard let es = srcType.byteSize else {
                throw TensorCoreError(.dtype, "cannot copy \(srcType) element by element")
            }
            if dims.isEmpty { dims = [1]; ss = [1]; ds = [1] }
            let n = dims.count
            if ss[n - 1] == 1 && ds[n - 1] == 1 {
                let run = dims[n - 1] * es
                forEachIndex(Array(dims.dropLast()), Array(ss.dropLast()), Array(ds.dropLast())) { so, doff in
                    memcpy(dst + doff * es, src + so * es, run)
                }
                return
            }
            if n >= 2, ds[n - 1] == 1, ss[n - 2] == 1 {
                let rows = dims[n - 2], cols = dims[n - 1]
                let srcColStride = ss[n - 1], dstRowStride = ds[n - 2]
                forEachIndex(Array(dims.dropLast(2)), Array(ss.dropLast(2)), Array(ds.dropLast(2))) { so, doff in
                    transpose(rows: rows, cols: cols, src: src + so * es, srcColStride: srcColStride,
                              dst: dst + doff * es, dstRowStride: dstRowStride, elementSize: es)
                }
                return
            }
            let last = dims[n - 1], sLast = ss[n - 1], dLast = ds[n - 1]
            forEachIndex(Array(dims.dropLast()), Array(ss.dropLast()), Array(ds.dropLast())) { so, doff in
                for k in 0..<last {
                    memcpy(dst + (doff + k * dLast) * es, src + (so + k * sLast) * es, es)
                }
            }
            return
        }
        // Casting copy: contiguous runs through the typed converters, anything else element by element.
        guard srcType.isConvertibleFloat, dstType.isConvertibleFloat else {
            throw TensorCoreError(.dtype, "cannot cast \(srcType) to \(dstType)",
                                  hint: "only float types (F32, BF16, F16, F64) can be cast")
        }
        if dims.isEmpty { dims = [1]; ss = [1]; ds = [1] }
        let n = dims.count
        let last = dims[n - 1], sLast = ss[n - 1], dLast = ds[n - 1]
        let sEs = srcType.byteSize!, dEs = dstType.byteSize!
        if sLast == 1 && dLast == 1 {
            forEachIndex(Array(dims.dropLast()), Array(ss.dropLast()), Array(ds.dropLast())) { so, doff in
                FloatCast.convertRun(src + so * sEs, srcType, dst + doff * dEs, dstType, count: last)
            }
            return
        }
        let load = FloatCast.loader(srcType), store = FloatCast.storer(dstType)
        forEachIndex(Array(dims.dropLast()), Array(ss.dropLast()), Array(ds.dropLast())) { so, doff in
            for k in 0..<last {
                store(dst + (doff + k * dLast) * dEs, load(src + (so + k * sLast) * sEs))
            }
        }
    }

    /// Copies the pieces of `box` into `dest`, a row-major array of `dtype` with the box's shape.
    public static func gather(_ pieces: [TensorPiece], box: Box, as dtype: DType, into dest: UnsafeMutableRawPointer) throws {
        guard let es = dtype.byteSize else {
            throw TensorCoreError(.dtype, "cannot slice \(dtype) tensors element by element",
                                  hint: "sub-byte dtypes can only be copied whole")
        }
        let destStrides = Shape.rowMajorStrides(box.sizes)
        for piece in pieces {
            var off = 0
            for i in 0..<box.rank { off += (piece.box.offsets[i] - box.offsets[i]) * destStrides[i] }
            let d = dest + off * es
            switch piece.data {
            case .zeros:
                zero(sizes: piece.box.sizes, dest: d, destStrides: destStrides, elementSize: es)
            case let .memory(base, strides, srcType, _):
                try copy(sizes: piece.box.sizes, from: base, strides: strides, dtype: srcType, to: d, strides: destStrides, dtype: dtype)
            }
        }
    }

    /// The byte range `[lo, hi)` relative to the piece's base that a memory piece spans.
    static func span(_ piece: TensorPiece) -> (lo: Int, hi: Int)? {
        guard case let .memory(_, strides, dtype, _) = piece.data, let es = dtype.byteSize else { return nil }
        var lo = 0, hi = 0
        for (size, stride) in zip(piece.box.sizes, strides) where size > 1 {
            if stride >= 0 { hi += (size - 1) * stride } else { lo += (size - 1) * stride }
        }
        return (lo * es, (hi + 1) * es)
    }

    /// Fills a strided region with zero bits.
    public static func zero(sizes: [Int], dest: UnsafeMutableRawPointer, destStrides: [Int], elementSize es: Int) {
        if sizes.contains(0) { return }
        var (dims, _, ds) = simplify(sizes, destStrides, destStrides)
        if dims.isEmpty { dims = [1]; ds = [1] }
        let n = dims.count
        if ds[n - 1] == 1 {
            let run = dims[n - 1] * es
            forEachIndex(Array(dims.dropLast()), Array(ds.dropLast()), Array(ds.dropLast())) { _, doff in
                memset(dest + doff * es, 0, run)
            }
        } else {
            let last = dims[n - 1], dLast = ds[n - 1]
            forEachIndex(Array(dims.dropLast()), Array(ds.dropLast()), Array(ds.dropLast())) { _, doff in
                for k in 0..<last { memset(dest + (doff + k * dLast) * es, 0, es) }
            }
        }
    }

    /// Drops unit axes and merges neighbours that are contiguous on both sides.
    static func simplify(_ sizes: [Int], _ s: [Int], _ d: [Int]) -> ([Int], [Int], [Int]) {
        var dims = [Int](), ss = [Int](), ds = [Int]()
        for i in 0..<sizes.count where sizes[i] != 1 {
            if let last = dims.indices.last, ss[last] == s[i] * sizes[i], ds[last] == d[i] * sizes[i] {
                dims[last] *= sizes[i]
                ss[last] = s[i]
                ds[last] = d[i]
            } else {
                dims.append(sizes[i]); ss.append(s[i]); ds.append(d[i])
            }
        }
        return (dims, ss, ds)
    }

    /// Calls `body(srcOffset, dstOffset)` for every index of the outer dimensions (odometer order).
    @inline(__always)
    static func forEachIndex(_ dims: [Int], _ ss: [Int], _ ds: [Int], _ body: (Int, Int) -> Void) {
        if dims.isEmpty { body(0, 0); return }
        var idx = [Int](repeating: 0, count: dims.count)
        var so = 0, doff = 0
        let n = dims.count
        while true {
            body(so, doff)
            var k = n - 1
            while k >= 0 {
                idx[k] += 1
                so += ss[k]
                doff += ds[k]
                if idx[k] < dims[k] { break }
                so -= ss[k] * dims[k]
                doff -= ds[k] * dims[k]
                idx[k] = 0
                k -= 1
            }
            if k < 0 { return }
        }
    }

    /// dst[r][c] = src[c][r]: 16- and 32-bit elements through the SSE2 kernels of CTranspose, others in
    /// 32x32 tiles here. src is read down its columns (stride `srcColStride` between
    /// consecutive `c`, unit stride between consecutive `r`), dst is written along its rows.
    static func transpose(rows: Int, cols: Int, src: UnsafeRawPointer, srcColStride: Int,
                          dst: UnsafeMutableRawPointer, dstRowStride: Int, elementSize es: Int) {
        switch es {
        case 2 where srcColStride > 0 && dstRowStride > 0:
            ctranspose16(rows, cols, src.assumingMemoryBound(to: UInt16.self), srcColStride,
                         dst.assumingMemoryBound(to: UInt16.self), dstRowStride)
        case 4 where srcColStride > 0 && dstRowStride > 0:
            ctranspose32(rows, cols, src.assumingMemoryBound(to: UInt32.self), srcColStride,
                         dst.assumingMemoryBound(to: UInt32.self), dstRowStride)
        case 2: transposeTyped(UInt16.self, rows, cols, src, srcColStride, dst, dstRowStride)
        case 4: transposeTyped(UInt32.self, rows, cols, src, srcColStride, dst, dstRowStride)
        case 8: transposeTyped(UInt64.self, rows, cols, src, srcColStride, dst, dstRowStride)
        case 1: transposeTyped(UInt8.self, rows, cols, src, srcColStride, dst, dstRowStride)
        default:
            for r in 0..<rows {
                for c in 0..<cols { memcpy(dst + (r * dstRowStride + c) * es, src + (c * srcColStride + r) * es, es) }
            }
        }
    }

    @inline(__always)
    static func transposeTyped<T>(_: T.Type, _ rows: Int, _ cols: Int, _ src: UnsafeRawPointer, _ srcColStride: Int,
                                  _ dst: UnsafeMutableRawPointer, _ dstRowStride: Int) {
        let s = src.assumingMemoryBound(to: T.self)
        let d = dst.assumingMemoryBound(to: T.self)
        let tile = 32
        var r0 = 0
        while r0 < rows {
            let r1 = Swift.min(r0 + tile, rows)
            var c0 = 0
            while c0 < cols {
                let c1 = Swift.min(c0 + tile, cols)
                for r in r0..<r1 {
                    let drow = d + r * dstRowStride
                    for c in c0..<c1 { drow[c] = s[c * srcColStride + r] }
                }
                c0 = c1
            }
            r0 = r1
        }
    }
}

/// Conversions between the float formats, bit-exact with PyTorch's: bf16 and f16 widen exactly to fp32;
/// narrowing rounds to nearest even and keeps NaNs quiet.
public enum FloatCast {
    public typealias Load = (UnsafeRawPointer) -> Double
    public typealias Store = (UnsafeMutableRawPointer, Double) -> Void

    @inline(__always) public static func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    @inline(__always) public static func floatToBF16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    @inline(__always) public static func f16ToFloat(_ h: UInt16) -> Float { Float(Float16(bitPattern: h)) }
    @inline(__always) public static func floatToF16(_ f: Float) -> UInt16 { Float16(f).bitPattern }

    /// Converts `count` contiguous elements. The common pairs are tight loops the compiler vectorises
    /// (bf16 → fp32 is a 16-bit shift, so exact); other pairs go through `Double`.
    public static func convertRun(_ src: UnsafeRawPointer, _ from: DType, _ dst: UnsafeMutableRawPointer, _ to: DType, count n: Int) {
        switch (from, to) {
        case (.f32, .f32), (.bf16, .bf16), (.f16, .f16), (.f64, .f64):
            memcpy(dst, src, n * from.byteSize!)
        case (.bf16, .f32) where Int(bitPattern: src) % 2 == 0 && Int(bitPattern: dst) % 4 == 0:
            let s = src.assumingMemoryBound(to: UInt16.self), d = dst.assumingMemoryBound(to: UInt32.self)
            for j in 0..<n { d[j] = UInt32(s[j]) << 16 }
        case (.f16, .f32) where Int(bitPattern: src) % 2 == 0 && Int(bitPattern: dst) % 4 == 0:
            let s = src.assumingMemoryBound(to: Float16.self), d = dst.assumingMemoryBound(to: Float.self)
            for j in 0..<n { d[j] = Float(s[j]) }
        case (.f32, .bf16) where Int(bitPattern: src) % 4 == 0 && Int(bitPattern: dst) % 2 == 0:
            let s = src.assumingMemoryBound(to: Float.self), d = dst.assumingMemoryBound(to: UInt16.self)
            for j in 0..<n { d[j] = floatToBF16(s[j]) }
        case (.f32, .f16) where Int(bitPattern: src) % 4 == 0 && Int(bitPattern: dst) % 2 == 0:
            let s = src.assumingMemoryBound(to: Float.self), d = dst.assumingMemoryBound(to: Float16.self)
            for j in 0..<n { d[j] = Float16(s[j]) }
        default:
            let load = loader(from), store = storer(to)
            let sEs = from.byteSize!, dEs = to.byteSize!
            for j in 0..<n { store(dst + j * dEs, load(src + j * sEs)) }
        }
    }

    static func loader(_ t: DType) -> Load {
        switch t {
        case .f32: return { Double($0.loadUnaligned(as: Float.self)) }
        case .bf16: return { Double(bf16ToFloat($0.loadUnaligned(as: UInt16.self))) }
        case .f16: return { Double(f16ToFloat($0.loadUnaligned(as: UInt16.self))) }
        default: return { $0.loadUnaligned(as: Double.self) }
        }
    }

    static func storer(_ t: DType) -> Store {
        switch t {
        case .f32: return { $0.storeBytes(of: Float($1), as: Float.self) }
        case .bf16: return { $0.storeBytes(of: floatToBF16(Float($1)), as: UInt16.self) }
        case .f16: return { $0.storeBytes(of: floatToF16(Float($1)), as: UInt16.self) }
        default: return { $0.storeBytes(of: $1, as: Double.self) }
        }
    }
}

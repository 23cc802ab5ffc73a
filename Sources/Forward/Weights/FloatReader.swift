import Foundation
import TensorCore

/// Reads regions of float tensors as fp32, fast: the weight readers' only path from a mapped checkpoint
/// to the matrices the forward pass multiplies.
///
/// `TensorSource.read` casts element by element through a generic loader (fp64 in between), which made
/// upcasting a bf16 checkpoint cost as much as the matrix products. Here each piece's contiguous runs are
/// converted in a tight loop the compiler vectorises (bf16 → fp32 is a 16-bit shift, so exact), fp32 runs
/// are copied, and large regions are split across threads. Values are identical to `TensorSource.read`'s;
/// anything unusual (odd strides, misaligned data, other dtypes) falls back to it.
enum FloatReader {
    /// Threads for converting large regions (the forward pass sets it to its BLAS thread count).
    nonisolated(unsafe) static var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Regions smaller than this many elements are read on the calling thread.
    static let parallelThreshold = 1 << 19

    /// The elements of `box` (default: all) as a row-major fp32 array.
    static func floats(_ source: TensorSource, _ box: Box? = nil) throws -> [Float] {
        let b = box ?? Box(shape: source.shape)
        let n = b.elementCount
        if n == 0 { return [] }
        return try [Float](unsafeUninitializedCapacity: n) { buffer, count in
            try read(source, b, into: buffer.baseAddress!)
            count = n
        }
    }

    /// Writes the elements of `box`, row-major fp32, to `dest`.
    static func read(_ source: TensorSource, _ box: Box, into dest: UnsafeMutablePointer<Float>) throws {
        let n = box.elementCount
        if n == 0 { return }
        // Split along the first axis longer than 1 (leading unit axes come from stacked layers and experts).
        guard n >= parallelThreshold, threads > 1, let axis = box.sizes.firstIndex(where: { $0 > 1 }) else {
            try readSerial(source, box, into: dest)
            return
        }
        let rows = box.sizes[axis], rowElements = n / rows
        let parts = Swift.min(threads, rows)
        let lock = NSLock()
        var failure: Error?
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let r0 = rows * p / parts, r1 = rows * (p + 1) / parts
            guard r1 > r0 else { return }
            let sub = box.narrowed(axis: axis, offset: box.offsets[axis] + r0, size: r1 - r0)
            do {
                try readSerial(source, sub, into: dest + r0 * rowElements)
            } catch {
                lock.lock()
                if failure == nil { failure = error }
                lock.unlock()
            }
        }
        if let failure { throw failure }
    }

    private static func readSerial(_ source: TensorSource, _ box: Box, into dest: UnsafeMutablePointer<Float>) throws {
        let destStrides = Shape.rowMajorStrides(box.sizes)
        let pieces = try source.pieces(covering: box)
        // A piece's owner keeps its memory alive; hold every piece until its bytes are copied.
        try withExtendedLifetime(pieces) {
            for piece in pieces {
                var off = 0
                for i in 0..<box.rank { off += (piece.box.offsets[i] - box.offsets[i]) * destStrides[i] }
                let d = dest + off
                switch piece.data {
                case .zeros:
                    StridedCopy.zero(sizes: piece.box.sizes, dest: UnsafeMutableRawPointer(d), destStrides: destStrides,
                                     elementSize: 4)
                case let .memory(base, strides, dtype, _):
                    if !convertRuns(sizes: piece.box.sizes, from: base, strides: strides, dtype: dtype, to: d, strides: destStrides) {
                        try StridedCopy.copy(sizes: piece.box.sizes, from: base, strides: strides, dtype: dtype,
                                             to: UnsafeMutableRawPointer(d), strides: destStrides, dtype: .f32)
                    }
                }
            }
        }
    }

    /// Converts a strided region whose innermost axis is contiguous on both sides, run by run.
    /// Returns false (having written nothing) when the region does not qualify.
    private static func convertRuns(sizes: [Int], from src: UnsafeRawPointer, strides ss: [Int], dtype: DType,
                                    to dst: UnsafeMutablePointer<Float>, strides ds: [Int]) -> Bool {
        guard dtype == .f32 || dtype == .bf16 || dtype == .f16 else { return false }
        let es = dtype.byteSize!
        guard Int(bitPattern: src) % es == 0 else { return false }
        // Drop unit axes; merge neighbours contiguous on both sides.
        var dims = [Int](), sst = [Int](), dst_ = [Int]()
        for i in 0..<sizes.count where sizes[i] != 1 {
            if let last = dims.indices.last, sst[last] == ss[i] * sizes[i], dst_[last] == ds[i] * sizes[i] {
                dims[last] *= sizes[i]
                sst[last] = ss[i]
                dst_[last] = ds[i]
            } else {
                dims.append(sizes[i]); sst.append(ss[i]); dst_.append(ds[i])
            }
        }
        if dims.isEmpty { dims = [1]; sst = [1]; dst_ = [1] }
        let k = dims.count - 1
        guard sst[k] == 1 && dst_[k] == 1 else { return false }
        let run = dims[k]
        let outer = Array(dims[..<k]), os = Array(sst[..<k]), od = Array(dst_[..<k])
        var idx = [Int](repeating: 0, count: outer.count)
        var so = 0, doff = 0
        while true {
            convert(src + so * es, dtype, dst + doff, run)
            var a = outer.count - 1
            while a >= 0 {
                idx[a] += 1
                so += os[a]
                doff += od[a]
                if idx[a] < outer[a] { break }
                so -= os[a] * outer[a]
                doff -= od[a] * outer[a]
                idx[a] = 0
                a -= 1
            }
            if a < 0 { return true }
        }
    }

    /// `n` contiguous elements of `dtype` at `src` as fp32 at `dst`.
    @inline(__always)
    private static func convert(_ src: UnsafeRawPointer, _ dtype: DType, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        switch dtype {
        case .f32:
            memcpy(dst, src, n * 4)
        case .bf16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for j in 0..<n { dst[j] = Float(bitPattern: UInt32(s[j]) << 16) }
        default:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for j in 0..<n { dst[j] = Float(Float16(bitPattern: s[j])) }
        }
    }
}

import Foundation
import TensorCore

/// Reads regions of float tensors as fp32, fast: the weight readers' only path from a mapped checkpoint
/// to the matrices the forward pass multiplies.
///
/// The conversion itself is TensorCore's (`TensorSource.read`, whose contiguous runs go through tight
/// typed loops); this splits large regions across threads, since upcasting a bf16 checkpoint would
/// otherwise cost as much as the matrix products.
enum FloatReader {
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

    private static let serialKey = "Forward.FloatReader.serial"

    /// Runs `body` with this thread's reads kept on this thread (for callers that already split work
    /// across threads).
    static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let d = Thread.current.threadDictionary
        d[serialKey] = true
        defer { d.removeObject(forKey: serialKey) }
        return try body()
    }

    /// Writes the elements of `box`, row-major fp32, to `dest`.
    static func read(_ source: TensorSource, _ box: Box, into dest: UnsafeMutablePointer<Float>) throws {
        let n = box.elementCount
        if n == 0 { return }
        // Split along the first axis longer than 1 (leading unit axes come from stacked layers and experts).
        guard n >= parallelThreshold, BLAS.threads > 1, let axis = box.sizes.firstIndex(where: { $0 > 1 }),
              Thread.current.threadDictionary[serialKey] == nil else {
            try readSerial(source, box, into: dest)
            return
        }
        let rows = box.sizes[axis], rowElements = n / rows
        let parts = Swift.min(BLAS.threads, rows)
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

    /// Reads, then drops this process's mapping of the checkpoint pages it touched: every weight is read
    /// once per forward pass into fp32, so keeping the bf16 pages mapped would make resident memory grow to
    /// the whole model (13 GB for a 2-layer 235B-A22B) although only one layer is in use. The pages stay in
    /// the page cache; a second pass faults them back in cheaply.
    private static func readSerial(_ source: TensorSource, _ box: Box, into dest: UnsafeMutablePointer<Float>) throws {
        let pieces = try source.pieces(covering: box)
        try withExtendedLifetime(pieces) {
            try StridedCopy.gather(pieces, box: box, as: .f32, into: UnsafeMutableRawPointer(dest))
            WriteExecutor.releaseMappedPages(pieces)
        }
    }
}

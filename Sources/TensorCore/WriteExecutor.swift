import Foundation

/// One region of a tensor to be written at a planned place in an output file.
public struct TensorWriteTask {
    public var file: OutputFile
    /// Where the first byte goes in `file`.
    public var offset: Int
    public var source: TensorSource
    /// The region of `source` to write, in row-major order.
    public var box: Box
    /// The dtype to write (a cast happens when it differs from the source's).
    public var dtype: DType
    /// Compute the CRC-32 of the bytes written (zip entries need it).
    public var wantsCRC: Bool
    /// What to call the tensor in errors and progress.
    public var label: String

    public init(file: OutputFile, offset: Int, source: TensorSource, box: Box? = nil, dtype: DType? = nil,
                wantsCRC: Bool = false, label: String) {
        self.file = file
        self.offset = offset
        self.source = source
        self.box = box ?? Box(shape: source.shape)
        self.dtype = dtype ?? source.dtype
        self.wantsCRC = wantsCRC
        self.label = label
    }

    public var byteCount: Int { Shape.byteCount(box.sizes, dtype) ?? 0 }
}

/// Progress of a running write, readable from any thread.
///
/// An optional observer (library callers: the C ABI's progress callback) hears every step and may stop the
/// write: when it returns false the executor throws `WriteProgress.cancelled` at its next slab, and the
/// pipeline's temporary output folder is removed as for any other error.
public final class WriteProgress: @unchecked Sendable {
    /// Sees (bytes done, bytes total, tensor label) after each slab; returns false to cancel. Called on the
    /// writer threads, one call at a time.
    public typealias Observer = (_ done: Int, _ total: Int, _ label: String) -> Bool

    private let lock = NSLock()
    private var done = 0
    private var stopped = false
    private let observer: Observer?
    public let total: Int
    public let started = Date()

    public init(total: Int, observer: Observer? = nil) {
        self.total = total
        self.observer = observer
    }

    public func add(_ n: Int, label: String = "") {
        lock.lock(); defer { lock.unlock() }
        done += n
        if let observer, !stopped, !observer(done, total, label) { stopped = true }
    }

    public var bytesDone: Int {
        lock.lock(); defer { lock.unlock() }
        return done
    }

    /// True once the observer asked to stop.
    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopped
    }

    /// Throws `cancelled` when the observer asked to stop (the executor calls it between slabs).
    public func checkCancelled() throws {
        if isCancelled { throw Self.cancelled }
    }

    /// The error a cancelled write ends with.
    public static let cancelled = TensorCoreError(.cancelled, "cancelled by the progress callback",
                                                  hint: "nothing was written: the output folder is not created")
}

/// Runs write tasks on `jobs` threads with a bound on bytes held in memory.
///
/// Each task is written slab by slab (a slab is a range of the task's outermost axis, at most
/// `slabLimit(budget:jobs:)` bytes), so memory stays within `budget` however large the tensors. A slab whose
/// bytes already sit contiguously in a mapped source with the right dtype is written straight from the
/// mapping with no copy. Tasks are independent; their order of completion is not defined.
public struct WriteExecutor {
    public var jobs: Int
    public var budget: Int
    public var progress: WriteProgress?

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, budget: Int = 256 << 20, progress: WriteProgress? = nil) {
        self.jobs = Swift.max(1, jobs)
        self.budget = Swift.max(1 << 20, budget)
        self.progress = progress
    }

    /// Writes every task; returns the CRC-32 of each task's bytes (0 when not asked for).
    @discardableResult
    public func run(_ tasks: [TensorWriteTask]) throws -> [UInt32] {
        if tasks.isEmpty { return [] }
        var crcs = [UInt32](repeating: 0, count: tasks.count)
        let lock = NSLock()
        var firstError: Error?
        var next = 0
        // Largest tasks first, so a big tensor does not start last and leave the other threads idle.
        let order = tasks.indices.sorted { tasks[$0].byteCount > tasks[$1].byteCount }
        let slabLimit = Self.slabLimit(budget: budget, jobs: jobs)
        let workers = Swift.min(jobs, tasks.count)
        crcs.withUnsafeMutableBufferPointer { crcOut in
            let out = crcOut
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                var buffer = [UInt8]()
                while true {
                    lock.lock()
                    if firstError == nil, progress?.isCancelled == true { firstError = WriteProgress.cancelled }
                    if firstError != nil || next >= order.count { lock.unlock(); return }
                    let ti = order[next]
                    next += 1
                    lock.unlock()
                    do {
                        out[ti] = try write(tasks[ti], slabLimit: slabLimit, buffer: &buffer)
                    } catch {
                        lock.lock()
                        if firstError == nil { firstError = error }
                        lock.unlock()
                        return
                    }
                }
            }
        }
        if let firstError { throw firstError }
        return crcs
    }

    /// Largest slab, in bytes: a gathered slab holds its buffer and the source pages it was gathered from
    /// (released after the write), so each worker holds about twice its slab. Slabs beyond a few MB buy no
    /// speed (a pwrite of 8 MB already runs at disk speed, and a smaller buffer stays in cache between
    /// the gather and the write), so the slab is capped at `maxSlab` whatever the budget.
    public static func slabLimit(budget: Int, jobs: Int) -> Int {
        Swift.max(1 << 20, Swift.min(maxSlab, budget / (2 * Swift.max(1, jobs))))
    }

    /// See `slabLimit(budget:jobs:)`.
    public static let maxSlab = 8 << 20

    private func write(_ t: TensorWriteTask, slabLimit: Int, buffer: inout [UInt8]) throws -> UInt32 {
        var crc = CRC32()
        let total = t.byteCount
        if total == 0 || t.dtype.byteSize == nil {
            // Empty tensors, and sub-byte types (which cannot be sliced): whole copy of the raw bytes.
            if let c = t.source as? ContiguousTensor, t.dtype == c.dtype, c.byteCount > 0 {
                try t.file.write(c.rawBytes, at: t.offset)
                if t.wantsCRC { crc.update(c.rawBytes) }
                progress?.add(c.byteCount, label: t.label)
                try progress?.checkCancelled()
            }
            return crc.value
        }
        guard let es = t.dtype.byteSize else { return crc.value }
        var written = 0
        for slab in t.box.slabs(maxBytes: slabLimit, elementSize: es) {
            let bytes = slab.elementCount * es
            let pieces = try t.source.pieces(covering: slab)
            // The pieces own the memory their pointers point into; keep them until the bytes are written.
            try withExtendedLifetime(pieces) {
                if pieces.count == 1, case let .memory(base, strides, dt, owner) = pieces[0].data, dt == t.dtype,
                   Shape.isRowMajor(slab.sizes, strides: strides) {
                    if let file = owner as? MappedFile, let offset = file.offset(of: base) {
                        // A plain byte run of a file: stream it through a small reused buffer.
                        let step = Swift.min(bytes, Self.streamChunk)
                        if buffer.count < step { buffer = [UInt8](repeating: 0, count: step) }
                        var done = 0
                        while done < bytes {
                            let n = Swift.min(step, bytes - done)
                            try buffer.withUnsafeMutableBytes { buf in
                                try file.read(into: buf.baseAddress!, at: offset + done, count: n)
                                let raw = UnsafeRawBufferPointer(start: buf.baseAddress, count: n)
                                if t.wantsCRC { crc.update(raw) }
                                try t.file.write(raw, at: t.offset + written + done)
                            }
                            done += n
                        }
                    } else {
                        let raw = UnsafeRawBufferPointer(start: base, count: bytes)
                        try t.file.write(raw, at: t.offset + written)
                        if t.wantsCRC { crc.update(raw) }
                    }
                } else {
                    if buffer.count < bytes { buffer = [UInt8](repeating: 0, count: bytes) }
                    try buffer.withUnsafeMutableBytes { buf in
                        try StridedCopy.gather(pieces, box: slab, as: t.dtype, into: buf.baseAddress!)
                        let raw = UnsafeRawBufferPointer(start: buf.baseAddress, count: bytes)
                        try t.file.write(raw, at: t.offset + written)
                        if t.wantsCRC { crc.update(raw) }
                    }
                }
            }
            progress?.add(bytes, label: t.label)
            try progress?.checkCancelled()
            written += bytes
            Self.releaseMappedPages(pieces)
        }
        return crc.value
    }

    /// Bytes per positional read when streaming a byte run (fits in L2 with room to spare).
    static let streamChunk = 1 << 20

    /// Releases the mapped file pages a slab read (see `MappedFile.releasePages`); other memory is left alone.
    ///
    /// The range released reaches `faultAround` bytes past each end of the piece, within the mapping: a page
    /// fault maps the already-cached pages of the aligned 64 KB window around it too (Linux's
    /// `fault_around_bytes`), so a piece's neighbours become resident without being read, and across an
    /// export's thousands of small pieces those pages added up to ~200 MB.
    public static func releaseMappedPages(_ pieces: [TensorPiece]) {
        for p in pieces {
            guard case let .memory(base, _, _, owner) = p.data, let file = owner as? MappedFile, let mapStart = file.base,
                  let (lo, hi) = StridedCopy.span(p) else { continue }
            let start = Swift.max(mapStart, base + lo - faultAround)
            let end = Swift.min(mapStart + file.size, base + hi + faultAround)
            if end > start { MappedFile.releasePages(start, count: end - start) }
        }
    }

    /// See `releaseMappedPages`.
    static let faultAround = 64 << 10
}

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
/// Each task is cut into slabs (a slab is a range of the task's outermost axes, at most
/// `slabLimit(budget:jobs:)` bytes), so memory stays within `budget` however large the tensors. The slabs
/// of all tasks form one queue in file order, then offset order, that the threads take from: the threads
/// share even a single huge tensor, and every file fills front to back, which lets a `StreamingFileDigests`
/// hash it while it is written. A slab's CRC-32 is computed on its own and combined into its task's
/// (`CRC32.combine`). A slab whose bytes already sit contiguously in a mapped source with the right dtype
/// is streamed from the file with no gather.
public struct WriteExecutor {
    public var jobs: Int
    public var budget: Int
    public var progress: WriteProgress?
    /// Hashes the output files while they are written, when set (see `StreamingFileDigests`).
    public var digests: StreamingFileDigests?

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, budget: Int = 256 << 20, progress: WriteProgress? = nil) {
        self.jobs = Swift.max(1, jobs)
        self.budget = Swift.max(1 << 20, budget)
        self.progress = progress
    }

    /// One unit of work: a slab of a task (nil: the whole task, for tensors that cannot be sliced).
    private struct WorkItem {
        var task: Int
        var slab: Box?
        /// Bytes of the task before this slab.
        var byteOffset: Int
        var byteCount: Int
    }

    /// Writes every task; returns the CRC-32 of each task's bytes (0 when not asked for). `onTaskFinished`,
    /// when given, hears each task as soon as its last byte is written (with its CRC), on a writer thread,
    /// one call at a time: a zip writer puts the entry's headers right behind its payload that way.
    @discardableResult
    public func run(_ tasks: [TensorWriteTask],
                    onTaskFinished: ((_ task: Int, _ crc: UInt32) throws -> Void)? = nil) throws -> [UInt32] {
        if tasks.isEmpty { return [] }
        let items = Self.workItems(tasks, slabLimit: Self.slabLimit(budget: budget, jobs: jobs))
        var crcs = [UInt32](repeating: 0, count: tasks.count)
        var itemCRCs = [UInt32](repeating: 0, count: items.count)
        var remaining = [Int](repeating: 0, count: tasks.count)
        for item in items { remaining[item.task] += 1 }
        var firstItem = [Int](repeating: 0, count: tasks.count)
        for (i, item) in items.enumerated().reversed() { firstItem[item.task] = i }
        let lock = NSLock()
        let callbackLock = NSLock()
        var firstError: Error?
        var next = 0
        let workers = Swift.min(jobs, items.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            var buffer = [UInt8]()
            while true {
                lock.lock()
                if firstError == nil, progress?.isCancelled == true { firstError = WriteProgress.cancelled }
                if firstError != nil || next >= items.count { lock.unlock(); return }
                let i = next
                next += 1
                lock.unlock()
                let item = items[i]
                do {
                    let crc = try write(item, of: tasks[item.task], buffer: &buffer)
                    lock.lock()
                    itemCRCs[i] = crc
                    remaining[item.task] -= 1
                    let finished = remaining[item.task] == 0
                    var taskCRC: UInt32 = 0
                    if finished, tasks[item.task].wantsCRC {
                        var j = firstItem[item.task]
                        while j < items.count && items[j].task == item.task {
                            taskCRC = CRC32.combine(taskCRC, itemCRCs[j], lengthOfB: items[j].byteCount)
                            j += 1
                        }
                    }
                    if finished { crcs[item.task] = taskCRC }
                    lock.unlock()
                    if finished, let onTaskFinished {
                        callbackLock.lock(); defer { callbackLock.unlock() }
                        try onTaskFinished(item.task, taskCRC)
                    }
                } catch {
                    lock.lock()
                    if firstError == nil { firstError = error }
                    lock.unlock()
                    return
                }
            }
        }
        if let firstError { throw firstError }
        return crcs
    }

    /// The slabs of every task, files in the order they first appear, each file's tasks by offset; a
    /// task's slabs are consecutive and in order.
    private static func workItems(_ tasks: [TensorWriteTask], slabLimit: Int) -> [WorkItem] {
        var fileRank = [ObjectIdentifier: Int]()
        for t in tasks where fileRank[ObjectIdentifier(t.file)] == nil { fileRank[ObjectIdentifier(t.file)] = fileRank.count }
        let order = tasks.indices.sorted {
            let a = fileRank[ObjectIdentifier(tasks[$0].file)]!, b = fileRank[ObjectIdentifier(tasks[$1].file)]!
            return a != b ? a < b : (tasks[$0].offset, $0) < (tasks[$1].offset, $1)
        }
        var items = [WorkItem]()
        for ti in order {
            let t = tasks[ti]
            guard let es = t.dtype.byteSize, t.byteCount > 0 else {
                items.append(WorkItem(task: ti, slab: nil, byteOffset: 0, byteCount: t.byteCount))
                continue
            }
            var done = 0
            for slab in t.box.slabs(maxBytes: slabLimit, elementSize: es) {
                let n = slab.elementCount * es
                items.append(WorkItem(task: ti, slab: slab, byteOffset: done, byteCount: n))
                done += n
            }
        }
        return items
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

    /// Writes one work item; returns the CRC-32 of its bytes when the task wants it.
    private func write(_ item: WorkItem, of t: TensorWriteTask, buffer: inout [UInt8]) throws -> UInt32 {
        var crc = CRC32()
        guard let slab = item.slab else {
            // Empty tensors, and sub-byte types (which cannot be sliced): whole copy of the raw bytes.
            if let c = t.source as? ContiguousTensor, t.dtype == c.dtype, c.byteCount > 0 {
                try t.file.write(c.rawBytes, at: t.offset)
                if t.wantsCRC { crc.update(c.rawBytes) }
                progress?.add(c.byteCount, label: t.label)
                try progress?.checkCancelled()
            }
            return crc.value
        }
        let bytes = item.byteCount
        let at = t.offset + item.byteOffset
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
                            try t.file.write(raw, at: at + done)
                        }
                        done += n
                    }
                } else {
                    let raw = UnsafeRawBufferPointer(start: base, count: bytes)
                    try t.file.write(raw, at: at)
                    if t.wantsCRC { crc.update(raw) }
                }
            } else {
                if buffer.count < bytes { buffer = [UInt8](repeating: 0, count: bytes) }
                try buffer.withUnsafeMutableBytes { buf in
                    try StridedCopy.gather(pieces, box: slab, as: t.dtype, into: buf.baseAddress!)
                    let raw = UnsafeRawBufferPointer(start: buf.baseAddress, count: bytes)
                    try t.file.write(raw, at: at)
                    if t.wantsCRC { crc.update(raw) }
                }
            }
        }
        progress?.add(bytes, label: t.label)
        try progress?.checkCancelled()
        Self.releaseMappedPages(pieces)
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

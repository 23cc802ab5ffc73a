import Foundation

/// SHA-256 of output files computed while they are being written, on one background thread.
///
/// Why: megatron-core's `integrity.json` needs the SHA-256 of every file, and SHA-256 is sequential. Hashed
/// after the writes, a single 7 GB `.distcp` file kept one core busy for seconds while the other idled. Here
/// each followed file's completed prefix (the longest run of written bytes from offset 0, known from
/// `OutputFile`'s write notifications) is hashed as it grows, from the page cache, while the writer threads
/// go on; `WriteExecutor` fills files front to back, so the hash trails the writes closely. Files are
/// hashed one after another in the order they were followed, which is the order the executor fills them.
///
/// `finish()` says no more writes will come: the rest of every file (bytes never written read as the
/// zeros the file holds) is hashed and the digests returned. A digest covers the file's planned size.
public final class StreamingFileDigests: @unchecked Sendable {
    private final class Followed {
        let path: String
        let size: Int
        /// Written ranges beyond `prefix`, disjoint and sorted.
        var pending = [Range<Int>]()
        /// Bytes [0, prefix) are all written.
        var prefix = 0
        init(path: String, size: Int) { self.path = path; self.size = size }

        func add(_ r: Range<Int>) {
            guard r.upperBound > prefix else { return }
            let i = pending.firstIndex { $0.lowerBound > r.lowerBound } ?? pending.count
            pending.insert(Swift.max(prefix, r.lowerBound)..<r.upperBound, at: i)
            // Merge overlapping or touching neighbours, then absorb what now starts at the prefix.
            var merged = [Range<Int>]()
            for p in pending {
                if let last = merged.last, p.lowerBound <= last.upperBound {
                    merged[merged.count - 1] = last.lowerBound..<Swift.max(last.upperBound, p.upperBound)
                } else {
                    merged.append(p)
                }
            }
            while let first = merged.first, first.lowerBound <= prefix {
                prefix = Swift.max(prefix, first.upperBound)
                merged.removeFirst()
            }
            pending = merged
        }
    }

    private let condition = NSCondition()
    private var followed = [Followed]()
    private var noMoreWrites = false
    private var cancelled = false
    private var digests = [String: (digest: String, size: Int)]()
    private var failure: Error?
    private let done = DispatchSemaphore(value: 0)
    private var started = false

    public init() {}

    /// Starts following `file` (before its first write): its digest will be in `finish()`'s result under
    /// its path. Files without a planned size are not followed (they are hashed afterwards as usual).
    public func follow(_ file: OutputFile) {
        guard let size = file.plannedSize else { return }
        let f = Followed(path: file.path, size: size)
        file.onWritten = { [weak self] offset, count in self?.written(f, offset..<(offset + count)) }
        condition.lock()
        followed.append(f)
        let start = !started
        started = true
        condition.signal()
        condition.unlock()
        if start {
            let t = Thread { [self] in hashLoop(); done.signal() }
            t.name = "integrity-sha256"
            t.start()
        }
    }

    private func written(_ f: Followed, _ r: Range<Int>) {
        guard !r.isEmpty else { return }
        condition.lock()
        let before = f.prefix
        f.add(r)
        if f.prefix != before { condition.signal() }
        condition.unlock()
    }

    /// No more writes: hashes what is left and returns the digests (and the sizes they cover) by path. Throws the first read error.
    public func finish() throws -> [String: (digest: String, size: Int)] {
        condition.lock()
        noMoreWrites = true
        let wasStarted = started
        condition.broadcast()
        condition.unlock()
        if wasStarted { done.wait() }
        if let failure { throw failure }
        return digests
    }

    /// Stops hashing (the conversion failed); the digests are dropped.
    public func cancel() {
        condition.lock()
        cancelled = true
        noMoreWrites = true
        let wasStarted = started
        started = false
        condition.broadcast()
        condition.unlock()
        if wasStarted { done.wait() }
    }

    private func hashLoop() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var index = 0
        while true {
            condition.lock()
            while index >= followed.count && !noMoreWrites && !cancelled { condition.wait() }
            if cancelled || index >= followed.count { condition.unlock(); return }
            let f = followed[index]
            condition.unlock()
            do {
                let file = try MappedFile(path: f.path)
                var h = SHA256()
                var at = 0
                while at < f.size {
                    condition.lock()
                    while f.prefix <= at && !noMoreWrites && !cancelled { condition.wait() }
                    if cancelled { condition.unlock(); return }
                    let available = noMoreWrites ? f.size : f.prefix
                    condition.unlock()
                    guard file.size >= available else {
                        throw TensorCoreError(.io, "file is \(file.size) bytes, shorter than the planned \(f.size)", file: f.path)
                    }
                    // One buffer at a time, so that a cancel is seen within a read.
                    let end = Swift.min(available, at + buffer.count)
                    try h.update(reading: file, range: at..<end, through: buffer)
                    at = end
                }
                let hex = h.hexDigest()
                condition.lock()
                digests[f.path] = (hex, f.size)
                condition.unlock()
            } catch {
                condition.lock()
                if failure == nil { failure = error }
                condition.unlock()
                return
            }
            index += 1
        }
    }
}

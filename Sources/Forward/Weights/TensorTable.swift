import Foundation
import TensorCore

/// Named tensors with shape-checked fp32 reads. Both weight readers go through this, so every missing
/// or mis-shaped weight is an error that names its key; nothing is guessed, nothing skipped.
struct TensorTable {
    let keys: Set<String>
    let origin: String?
    private let fetch: (String) throws -> TensorSource
    private let cache = SourceCache()

    init(keys: [String], origin: String?, fetch: @escaping (String) throws -> TensorSource) {
        self.keys = Set(keys)
        self.origin = origin
        self.fetch = fetch
    }

    /// Opened sources by key. A stacked Megatron tensor is sliced once per layer and per expert; opening it
    /// (assembling its chunks) once keeps that cheap. Sources are lazy views, so caching holds no data.
    private final class SourceCache: @unchecked Sendable {
        private let lock = NSLock()
        private var sources: [String: TensorSource] = [:]

        func get(_ key: String, _ open: (String) throws -> TensorSource) throws -> TensorSource {
            lock.lock()
            defer { lock.unlock() }
            if let s = sources[key] { return s }
            let s = try open(key)
            sources[key] = s
            return s
        }
    }

    func has(_ key: String) -> Bool { keys.contains(key) }

    func source(_ key: String) throws -> TensorSource {
        guard has(key) else {
            throw ForwardError(.missingWeight, "weight is missing from the checkpoint", file: origin, key: key)
        }
        let s = try cache.get(key, fetch)
        guard s.dtype.isConvertibleFloat else {
            throw ForwardError(.badWeight, "weight has dtype \(s.dtype); a float type is needed", file: origin, key: key)
        }
        return s
    }

    func shape(_ key: String) throws -> [Int] { try source(key).shape }

    /// The whole tensor, which must have exactly `shape`.
    func floats(_ key: String, shape: [Int]) throws -> [Float] {
        let s = try source(key)
        try expect(key, s.shape, shape)
        return try FloatReader.floats(s)
    }

    /// The region `box` of a tensor that must have exactly `shape`.
    func floats(_ key: String, shape: [Int], box: Box) throws -> [Float] {
        let s = try source(key)
        try expect(key, s.shape, shape)
        return try FloatReader.floats(s, box)
    }

    /// The region `box` of a tensor that must have exactly `shape`, into `dest` (row-major fp32).
    func read(_ key: String, shape: [Int], box: Box, into dest: UnsafeMutablePointer<Float>) throws {
        let s = try source(key)
        try expect(key, s.shape, shape)
        try FloatReader.read(s, box, into: dest)
    }

    /// Rows `range` of a 2-D tensor of width `width` holding at least `minRows` rows.
    func rows(_ key: String, _ range: Range<Int>, width: Int, minRows: Int) throws -> [Float] {
        try FloatReader.floats(try rowSource(key, width: width, minRows: minRows),
                               Box(offsets: [range.lowerBound, 0], sizes: [range.count, width]))
    }

    /// The rows of `ids` (an embedding lookup) of a 2-D tensor of width `width` holding at least `minRows` rows.
    func gather(_ key: String, ids: [Int], width: Int, minRows: Int) throws -> [Float] {
        var out = [Float]()
        out.reserveCapacity(ids.count * width)
        for id in ids { out += try rows(key, id..<(id + 1), width: width, minRows: minRows) }
        return out
    }

    /// Rows `range` of a 2-D tensor of width `width` holding at least `minRows` rows, into `dest`.
    func rows(_ key: String, _ range: Range<Int>, width: Int, minRows: Int, into dest: UnsafeMutablePointer<Float>) throws {
        try FloatReader.read(try rowSource(key, width: width, minRows: minRows),
                             Box(offsets: [range.lowerBound, 0], sizes: [range.count, width]), into: dest)
    }

    private func rowSource(_ key: String, width: Int, minRows: Int) throws -> TensorSource {
        let s = try source(key)
        guard s.shape.count == 2, s.shape[1] == width, s.shape[0] >= minRows else {
            throw ForwardError(.badWeight, "weight has shape \(Shape.describe(s.shape)); expected [≥\(minRows), \(width)]",
                               file: origin, key: key)
        }
        return s
    }

    func expect(_ key: String, _ actual: [Int], _ wanted: [Int]) throws {
        guard actual == wanted else {
            throw ForwardError(.badWeight, "weight has shape \(Shape.describe(actual)); expected \(Shape.describe(wanted))",
                               file: origin, key: key)
        }
    }

    func missing(_ what: String, tried: [String]) -> ForwardError {
        ForwardError(.missingWeight, "\(what) is missing from the checkpoint (looked for \(tried.joined(separator: ", ")))",
                     file: origin, key: tried.first)
    }
}

/// Small matrix helpers for the layout changes the readers need.
enum Layout {
    /// The transpose of a row-major [rows, cols] matrix.
    static func transpose(_ a: [Float], rows: Int, cols: Int) -> [Float] {
        precondition(a.count == rows * cols)
        var t = [Float](repeating: 0, count: a.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = a[r * cols + c] } }
        return t
    }

    /// Rows [from, from+count) of a row-major matrix of width `width`.
    static func rows(_ a: [Float], from: Int, count: Int, width: Int) -> [Float] {
        Array(a[(from * width)..<((from + count) * width)])
    }

    /// Columns [from, from+count) of a row-major [rows, width] matrix.
    static func columns(_ a: [Float], rows: Int, width: Int, from: Int, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * count)
        for r in 0..<rows { for c in 0..<count { out[r * count + c] = a[r * width + from + c] } }
        return out
    }
}

/// An axis-aligned region of an N-dimensional tensor: where it starts and how far it reaches on each axis.
///
/// Boxes are the currency of the whole converter. A Megatron chunk is a box of a global tensor, a TP shard
/// is a box, a layer of a stacked tensor is a box, and every transform is a list of boxes that correspond.
public struct Box: Hashable, Sendable, CustomStringConvertible {
    public var offsets: [Int]
    public var sizes: [Int]

    public init(offsets: [Int], sizes: [Int]) {
        precondition(offsets.count == sizes.count, "box rank mismatch")
        self.offsets = offsets
        self.sizes = sizes
    }

    /// The box covering a whole tensor of `shape`.
    public init(shape: [Int]) { self.init(offsets: [Int](repeating: 0, count: shape.count), sizes: shape) }

    public var rank: Int { sizes.count }
    public var elementCount: Int { sizes.reduce(1, *) }
    public var isEmpty: Bool { sizes.contains(0) }
    public var ends: [Int] { zip(offsets, sizes).map { $0 + $1 } }

    /// The overlap of two boxes of the same rank, or nil when they do not overlap.
    public func intersection(_ other: Box) -> Box? {
        precondition(rank == other.rank, "box rank mismatch")
        var o = [Int](), s = [Int]()
        o.reserveCapacity(rank); s.reserveCapacity(rank)
        for i in 0..<rank {
            let lo = Swift.max(offsets[i], other.offsets[i])
            let hi = Swift.min(offsets[i] + sizes[i], other.offsets[i] + other.sizes[i])
            if hi <= lo { return nil }
            o.append(lo); s.append(hi - lo)
        }
        return Box(offsets: o, sizes: s)
    }

    /// True when `other` lies entirely inside this box.
    public func contains(_ other: Box) -> Bool {
        guard rank == other.rank else { return false }
        for i in 0..<rank where other.offsets[i] < offsets[i] || other.offsets[i] + other.sizes[i] > offsets[i] + sizes[i] {
            return false
        }
        return true
    }

    /// The box moved by `delta` on every axis.
    public func shifted(by delta: [Int]) -> Box { Box(offsets: zip(offsets, delta).map { $0 + $1 }, sizes: sizes) }

    /// The box with its axes reordered: axis `i` of the result is axis `permutation[i]` of this box.
    public func permuted(_ permutation: [Int]) -> Box {
        Box(offsets: permutation.map { offsets[$0] }, sizes: permutation.map { sizes[$0] })
    }

    /// The box narrowed on one axis.
    public func narrowed(axis: Int, offset: Int, size: Int) -> Box {
        var b = self
        b.offsets[axis] = offset
        b.sizes[axis] = size
        return b
    }

    public var description: String { "\(Shape.describe(offsets))+\(Shape.describe(sizes))" }
}

/// Checks that `boxes` tile `shape` exactly: each inside the shape, no overlap, nothing left uncovered.
/// Returns nil when they do, else a sentence naming the problem. Cost: O(n²) pairwise overlap tests plus a
/// volume sum, which is fine for the few thousand chunks a tensor has.
public func tilingProblem(of boxes: [Box], covering shape: [Int]) -> String? {
    if shape.isEmpty { return boxes.count == 1 ? nil : "a scalar needs exactly one chunk, found \(boxes.count)" }
    let whole = Box(shape: shape)
    var volume = 0
    for b in boxes {
        guard b.rank == shape.count else { return "chunk \(b) has rank \(b.rank), the tensor has rank \(shape.count)" }
        guard whole.contains(b) else { return "chunk \(b) reaches outside the global shape \(Shape.describe(shape))" }
        volume += b.elementCount
    }
    // Sort by offsets so that overlap checks can stop early on the first axis.
    let sorted = boxes.filter { !$0.isEmpty }.sorted { $0.offsets.lexicographicallyPrecedes($1.offsets) }
    for i in 0..<sorted.count {
        let a = sorted[i]
        var j = i + 1
        while j < sorted.count, sorted[j].offsets[0] < a.offsets[0] + a.sizes[0] {
            if a.intersection(sorted[j]) != nil { return "chunks \(a) and \(sorted[j]) overlap" }
            j += 1
        }
    }
    let total = Shape.elementCount(shape) ?? -1
    if volume != total {
        return "chunks cover \(volume) of \(total) elements: the checkpoint leaves a hole in the tensor"
    }
    return nil
}

extension Box {
    /// The box cut into consecutive row-major slabs of at most `maxBytes` each (a single innermost row
    /// larger than that stays whole). Each slab fixes the leading axes, takes a range of one axis and all of
    /// the following ones, so its elements are contiguous in the row-major order of the whole box and the
    /// slabs, taken in order, cover it exactly once.
    public func slabs(maxBytes: Int, elementSize: Int) -> [Box] {
        if rank == 0 || isEmpty { return [self] }
        // The outermost axis k whose trailing block (axes after k) fits: slabs take ranges of axis k.
        var tail = elementSize
        var k = rank - 1
        while k > 0 && tail * sizes[k] <= maxBytes {
            tail *= sizes[k]
            k -= 1
        }
        let perSlab = Swift.max(1, maxBytes / Swift.max(1, tail))
        var out = [Box]()
        var index = [Int](repeating: 0, count: k)   // position on the axes before k
        while true {
            var start = 0
            while start < sizes[k] {
                let n = Swift.min(perSlab, sizes[k] - start)
                var o = offsets, s = sizes
                for a in 0..<k { o[a] = offsets[a] + index[a]; s[a] = 1 }
                o[k] = offsets[k] + start
                s[k] = n
                out.append(Box(offsets: o, sizes: s))
                start += n
            }
            if !Self.advance(&index, within: sizes) { return out }
        }
    }

    /// Steps a multi-index over `index.count` leading axes of `sizes` in row-major order (the last
    /// axis fastest); false, with the index back at zero, after the last position.
    @inline(__always) public static func advance(_ index: inout [Int], within sizes: [Int]) -> Bool {
        var a = index.count - 1
        while a >= 0 {
            index[a] += 1
            if index[a] < sizes[a] { return true }
            index[a] = 0
            a -= 1
        }
        return false
    }
}

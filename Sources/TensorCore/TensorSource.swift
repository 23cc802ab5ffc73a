/// Where the elements of one piece of a tensor live.
public enum PieceData {
    /// Elements in memory: the element at the piece's first coordinate is at `base`, and moving one step
    /// along axis `i` of the piece moves `strides[i]` elements. `owner` keeps the memory (a mapping) alive.
    case memory(base: UnsafeRawPointer, strides: [Int], dtype: DType, owner: AnyObject?)
    /// Elements that are all zero bits (vocab padding).
    case zeros
}

/// A part of a requested region, with the place its elements come from.
public struct TensorPiece {
    /// The region this piece covers, in the coordinates of the tensor it was asked of.
    public var box: Box
    public var data: PieceData

    public init(box: Box, data: PieceData) {
        self.box = box
        self.data = data
    }
}

/// A tensor whose bytes can be read region by region without materialising the tensor.
///
/// Readers (safetensors, torch_dist, legacy) expose tensors as sources; transforms compose sources;
/// writers ask a source for the pieces of each output chunk and copy them. Because every source answers
/// with pointers into mapped files, a conversion never holds more than the chunk being written.
public protocol TensorSource: AnyObject {
    var dtype: DType { get }
    var shape: [Int] { get }
    /// Pieces that together cover `box` exactly once. `box` must lie inside `shape`.
    func pieces(covering box: Box) throws -> [TensorPiece]
}

extension TensorSource {
    public var byteCount: Int { Shape.byteCount(shape, dtype) ?? 0 }
    public var elementCount: Int { Shape.elementCount(shape) ?? 0 }

    /// Copies the elements of `box` into `dest` as a row-major array of `dtype` (casting when needed).
    public func read(_ box: Box, as dtype: DType? = nil, into dest: UnsafeMutableRawPointer) throws {
        let pieces = try pieces(covering: box)
        try withExtendedLifetime(pieces) {
            try StridedCopy.gather(pieces, box: box, as: dtype ?? self.dtype, into: dest)
        }
    }

    /// The elements of `box` (default: the whole tensor) as row-major bytes.
    public func readBytes(_ box: Box? = nil, as dtype: DType? = nil) throws -> [UInt8] {
        let b = box ?? Box(shape: shape)
        let t = dtype ?? self.dtype
        guard let n = Shape.byteCount(b.sizes, t) else {
            throw TensorCoreError(.shape, "region \(b) is too large")
        }
        var out = [UInt8](repeating: 0, count: n)
        if n > 0 {
            try out.withUnsafeMutableBytes { try read(b, as: t, into: $0.baseAddress!) }
        }
        return out
    }

    /// The elements of `box` (default: the whole tensor) converted to fp32.
    public func readFloats(_ box: Box? = nil) throws -> [Float] {
        let b = box ?? Box(shape: shape)
        var out = [Float](repeating: 0, count: b.elementCount)
        if !out.isEmpty {
            try out.withUnsafeMutableBytes { try read(b, as: .f32, into: $0.baseAddress!) }
        }
        return out
    }
}

/// A tensor stored row-major and contiguous in memory (a safetensors entry, a torch.save storage).
public final class ContiguousTensor: TensorSource {
    public let dtype: DType
    public let shape: [Int]
    public let base: UnsafeRawPointer?
    /// Keeps the memory alive (normally the `MappedFile`).
    public let owner: AnyObject?
    private let strides: [Int]

    public init(dtype: DType, shape: [Int], base: UnsafeRawPointer?, owner: AnyObject?) {
        self.dtype = dtype
        self.shape = shape
        self.base = base
        self.owner = owner
        strides = Shape.rowMajorStrides(shape)
    }

    /// The raw bytes of the whole tensor.
    public var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        guard Box(shape: shape).contains(box) else {
            throw TensorCoreError(.shape, "region \(box) lies outside the tensor's shape \(Shape.describe(shape))")
        }
        if box.isEmpty { return [] }
        guard let base, let es = dtype.byteSize else {
            throw TensorCoreError(.dtype, "cannot take regions of a \(dtype) tensor")
        }
        var off = 0
        for i in 0..<box.rank { off += box.offsets[i] * strides[i] }
        return [TensorPiece(box: box, data: .memory(base: base + off * es, strides: strides, dtype: dtype, owner: owner))]
    }
}

/// A global tensor stored as separate contiguous tiles (the chunks of a torch_dist checkpoint).
/// The tiles must cover the tensor exactly; `TiledTensor.init` checks it.
public final class TiledTensor: TensorSource {
    public struct Tile {
        public var box: Box
        public var data: ContiguousTensor
        public init(box: Box, data: ContiguousTensor) {
            self.box = box
            self.data = data
        }
    }

    public let dtype: DType
    public let shape: [Int]
    public let tiles: [Tile]
    private let maxExtent0: Int

    /// - Throws: when the tiles do not tile `shape` exactly (a hole or an overlap).
    public init(dtype: DType, shape: [Int], tiles: [Tile], name: String = "") throws {
        if let problem = tilingProblem(of: tiles.map(\.box), covering: shape) {
            throw TensorCoreError(.shape, problem, key: name.isEmpty ? nil : name,
                                  hint: "the checkpoint is incomplete or corrupt; re-save it")
        }
        for t in tiles where t.data.shape.reduce(1, *) != t.box.elementCount {
            throw TensorCoreError(.shape, "chunk \(t.box) holds \(Shape.describe(t.data.shape)) elements", key: name)
        }
        self.dtype = dtype
        self.shape = shape
        self.tiles = shape.isEmpty ? tiles : tiles.sorted { $0.box.offsets[0] < $1.box.offsets[0] }
        maxExtent0 = shape.isEmpty ? 0 : (tiles.map { $0.box.sizes[0] }.max() ?? 0)
    }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        guard Box(shape: shape).contains(box) else {
            throw TensorCoreError(.shape, "region \(box) lies outside the tensor's shape \(Shape.describe(shape))")
        }
        if box.isEmpty { return [] }
        if shape.isEmpty { return try tiles[0].data.pieces(covering: box) }
        // Tiles are sorted by their first offset; only those starting in [lo - maxExtent0, hi) can overlap.
        let lo = box.offsets[0] - maxExtent0 + 1, hi = box.offsets[0] + box.sizes[0]
        var start = 0, end = tiles.count
        while start < end {
            let mid = (start + end) / 2
            if tiles[mid].box.offsets[0] < lo { start = mid + 1 } else { end = mid }
        }
        var out = [TensorPiece]()
        var k = start
        while k < tiles.count, tiles[k].box.offsets[0] < hi {
            let t = tiles[k]
            k += 1
            guard let inter = t.box.intersection(box) else { continue }
            // Tile-local coordinates of the overlap, viewed with the tile's box shape.
            let local = Box(offsets: zip(inter.offsets, t.box.offsets).map { $0 - $1 }, sizes: inter.sizes)
            let view = ContiguousTensor(dtype: t.data.dtype, shape: t.box.sizes, base: t.data.base, owner: t.data.owner)
            for var p in try view.pieces(covering: local) {
                p.box = p.box.shifted(by: t.box.offsets)
                out.append(p)
            }
        }
        return out
    }
}

/// A tensor assembled from regions of other tensors: the result of a transform.
///
/// Each part says "this box of me is that region of that source", with an axis map that can drop,
/// add (unit axes) or reorder axes. Stacking layers, interleaving QKV heads, concatenating gate and up,
/// transposing fused experts, slicing a TP shard and padding the vocab are all lists of parts.
public final class ComposedTensor: TensorSource {
    public struct Part {
        /// The region of the composed tensor this part fills.
        public var box: Box
        /// The tensor it comes from, or nil for zeros.
        public var source: TensorSource?
        /// The coordinates in `source` of this part's first element (one per source axis).
        public var sourceOrigin: [Int]
        /// For each axis of the composed tensor: the source axis it runs along, or nil for a unit axis
        /// that the source does not have. Source axes that no axis runs along stay fixed at `sourceOrigin`.
        public var axisMap: [Int?]

        public init(box: Box, source: TensorSource?, sourceOrigin: [Int], axisMap: [Int?]) {
            self.box = box
            self.source = source
            self.sourceOrigin = sourceOrigin
            self.axisMap = axisMap
        }

        /// The whole of `source`, placed at `offsets` of the composed tensor with the same axes.
        public static func whole(_ source: TensorSource, at offsets: [Int]) -> Part {
            Part(box: Box(offsets: offsets, sizes: source.shape), source: source,
                 sourceOrigin: [Int](repeating: 0, count: source.shape.count), axisMap: Array(0..<source.shape.count))
        }

        /// Zeros filling `box`.
        public static func zeros(_ box: Box) -> Part {
            Part(box: box, source: nil, sourceOrigin: [], axisMap: [Int?](repeating: nil, count: box.rank))
        }
    }

    public let dtype: DType
    public let shape: [Int]
    public let parts: [Part]

    public init(dtype: DType, shape: [Int], parts: [Part]) {
        self.dtype = dtype
        self.shape = shape
        self.parts = parts
    }

    /// Checks that the parts tile the shape exactly and that each part stays inside its source.
    public func validate(name: String) throws {
        if let problem = tilingProblem(of: parts.map(\.box), covering: shape) {
            throw TensorCoreError(.shape, "internal plan error: \(problem)", key: name)
        }
        for p in parts {
            guard let s = p.source else { continue }
            let sb = sourceBox(p, for: p.box)
            guard Box(shape: s.shape).contains(sb) else {
                throw TensorCoreError(.shape, "internal plan error: part \(p.box) reads \(sb) outside its source \(Shape.describe(s.shape))", key: name)
            }
        }
    }

    private func sourceBox(_ p: Part, for inter: Box) -> Box {
        var o = p.sourceOrigin, s = [Int](repeating: 1, count: p.sourceOrigin.count)
        for (i, j) in p.axisMap.enumerated() {
            guard let j else { continue }
            o[j] = p.sourceOrigin[j] + (inter.offsets[i] - p.box.offsets[i])
            s[j] = inter.sizes[i]
        }
        return Box(offsets: o, sizes: s)
    }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        var out = [TensorPiece]()
        for p in parts {
            guard let inter = p.box.intersection(box) else { continue }
            guard let source = p.source else {
                out.append(TensorPiece(box: inter, data: .zeros))
                continue
            }
            let sb = sourceBox(p, for: inter)
            for sp in try source.pieces(covering: sb) {
                var o = inter.offsets, s = inter.sizes
                for (i, j) in p.axisMap.enumerated() {
                    guard let j else { continue }
                    o[i] = p.box.offsets[i] + (sp.box.offsets[j] - p.sourceOrigin[j])
                    s[i] = sp.box.sizes[j]
                }
                let b = Box(offsets: o, sizes: s)
                switch sp.data {
                case .zeros:
                    out.append(TensorPiece(box: b, data: .zeros))
                case let .memory(base, strides, dt, owner):
                    let st = p.axisMap.map { j in j.map { strides[$0] } ?? 0 }
                    out.append(TensorPiece(box: b, data: .memory(base: base, strides: st, dtype: dt, owner: owner)))
                }
            }
        }
        return out
    }
}

import Testing
import TestSupport
@testable import TensorCore

/// Every coordinate of a shape, in row-major order.
func allCoordinates(_ shape: [Int]) -> [[Int]] {
    var out = [[Int]]()
    var index = [Int](repeating: 0, count: shape.count)
    if shape.contains(0) { return [] }
    while true {
        out.append(index)
        var a = shape.count - 1
        while a >= 0 {
            index[a] += 1
            if index[a] < shape[a] { break }
            index[a] = 0
            a -= 1
        }
        if a < 0 { return out }
    }
}

func randomShape(_ g: inout SeededGenerator, rank: ClosedRange<Int> = 1...4, size: ClosedRange<Int> = 1...5) -> [Int] {
    (0..<Int.random(in: rank, using: &g)).map { _ in Int.random(in: size, using: &g) }
}

func randomBox(in shape: [Int], _ g: inout SeededGenerator) -> Box {
    var o = [Int](), s = [Int]()
    for n in shape {
        let a = Int.random(in: 0..<n, using: &g), b = Int.random(in: (a + 1)...n, using: &g)
        o.append(a); s.append(b - a)
    }
    return Box(offsets: o, sizes: s)
}

/// Cuts `shape` into a random grid of tiles (random cut points on every axis).
func randomTiling(_ shape: [Int], _ g: inout SeededGenerator) -> [Box] {
    let cuts: [[Int]] = shape.map { n in
        var c = Set([0, n])
        for _ in 0..<Int.random(in: 0...2, using: &g) { c.insert(Int.random(in: 0...n, using: &g)) }
        return c.sorted()
    }
    var boxes = [Box(offsets: [], sizes: [])]
    for c in cuts {
        boxes = boxes.flatMap { b in (0..<(c.count - 1)).compactMap { i in
            c[i + 1] > c[i] ? Box(offsets: b.offsets + [c[i]], sizes: b.sizes + [c[i + 1] - c[i]]) : nil
        } }
    }
    return boxes
}

/// Property tests: random shapes and layouts, each checked against a naive coordinate-by-coordinate model.
@Suite struct PropertyTests {
    static let seeds: [UInt64] = Array(1...40)

    @Test(arguments: seeds) func boxAlgebraMatchesCoordinateSets(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let shape = randomShape(&g)
        let a = randomBox(in: shape, &g), b = randomBox(in: shape, &g)
        let inA = Set(allCoordinates(a.sizes).map { zip($0, a.offsets).map(+) })
        let inB = Set(allCoordinates(b.sizes).map { zip($0, b.offsets).map(+) })
        let both = inA.intersection(inB)
        let i = a.intersection(b)
        #expect(i == b.intersection(a))
        let inI = i.map { i in Set(allCoordinates(i.sizes).map { zip($0, i.offsets).map(+) }) } ?? []
        #expect(inI == both)
        #expect(a.contains(b) == inB.isSubset(of: inA))
        if let i { #expect(a.contains(i) && b.contains(i)) }
    }

    @Test(arguments: seeds) func slabsCoverInRowMajorOrder(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let shape = randomShape(&g, rank: 1...5)
        let box = randomBox(in: shape, &g)
        let es = [1, 2, 4].randomElement(using: &g)!
        let maxBytes = Int.random(in: 1...(box.elementCount * es + 8), using: &g)
        let slabs = box.slabs(maxBytes: maxBytes, elementSize: es)
        let visited = slabs.flatMap { s in allCoordinates(s.sizes).map { zip($0, s.offsets).map(+) } }
        let expected = allCoordinates(box.sizes).map { zip($0, box.offsets).map(+) }
        #expect(visited == expected)   // exactly once each, and in the box's row-major order
    }

    @Test(arguments: seeds) func tilingProblemFindsHolesAndOverlaps(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let shape = randomShape(&g)
        var tiles = randomTiling(shape, &g)
        #expect(tilingProblem(of: tiles, covering: shape) == nil)
        if tiles.count > 1 {
            var holed = tiles
            holed.remove(at: Int.random(in: 0..<holed.count, using: &g))
            #expect(tilingProblem(of: holed, covering: shape) != nil)
            tiles.append(tiles[Int.random(in: 0..<tiles.count, using: &g)])
            #expect(tilingProblem(of: tiles, covering: shape)?.contains("overlap") == true)
        }
    }

    /// A strided view of a buffer (axes permuted, a sub-box taken) copied row-major equals the element the
    /// naive index formula names; casting copies equal the scalar converters element by element.
    @Test(arguments: seeds) func stridedCopyMatchesIndexFormula(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let full = randomShape(&g)
        let n = full.reduce(1, *)
        let src: [Float] = (0..<n).map { _ in Float.random(in: -4...4, using: &g) }
        let fullStrides = Shape.rowMajorStrides(full)
        let perm = Array(0..<full.count).shuffled(using: &g)
        let viewShape = perm.map { full[$0] }
        let box = randomBox(in: viewShape, &g)
        let viewStrides = perm.map { fullStrides[$0] }
        var start = 0
        for i in 0..<box.rank { start += box.offsets[i] * viewStrides[i] }
        let coords = allCoordinates(box.sizes)
        let want: [Float] = coords.map { c in
            src[start + zip(c, viewStrides).map(*).reduce(0, +)]
        }
        for dtype in [DType.f32, .bf16, .f16, .f64] {
            let es = dtype.byteSize!
            var out = [UInt8](repeating: 0, count: box.elementCount * es)
            try src.withUnsafeBytes { s in
                try out.withUnsafeMutableBytes { d in
                    try StridedCopy.copy(sizes: box.sizes, from: s.baseAddress! + start * 4, strides: viewStrides, dtype: .f32,
                                         to: d.baseAddress!, strides: Shape.rowMajorStrides(box.sizes), dtype: dtype)
                }
            }
            var expected = [UInt8](repeating: 0, count: out.count)
            want.withUnsafeBytes { w in
                expected.withUnsafeMutableBytes { e in
                    for k in 0..<want.count {
                        FloatCast.convertRun(w.baseAddress! + 4 * k, .f32, e.baseAddress! + es * k, dtype, count: 1)
                    }
                }
            }
            #expect(out == expected, "seed \(seed) \(dtype) view \(viewShape) box \(box)")
        }
    }

    /// The transpose kernels (8x8 and 4x4 register blocks inside 64x64 tiles, scalar edges) equal the index
    /// formula dst[r][c] = src[c][r] for 16- and 32-bit elements at sizes around every block and tile edge,
    /// with padded source and destination strides.
    @Test(arguments: seeds) func transposeMatchesIndexFormula(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        for dtype in [DType.bf16, .f32] {
            let es = dtype.byteSize!
            let rows = Int.random(in: 1...150, using: &g), cols = Int.random(in: 1...150, using: &g)
            let srcColStride = rows + Int.random(in: 0...9, using: &g)
            let dstRowStride = cols + Int.random(in: 0...9, using: &g)
            let src: [UInt8] = (0..<(cols * srcColStride * es)).map { _ in UInt8.random(in: 0...255, using: &g) }
            var out = [UInt8](repeating: 0, count: rows * dstRowStride * es)
            try src.withUnsafeBytes { s in
                try out.withUnsafeMutableBytes { d in
                    try StridedCopy.copy(sizes: [rows, cols], from: s.baseAddress!, strides: [1, srcColStride], dtype: dtype,
                                         to: d.baseAddress!, strides: [dstRowStride, 1], dtype: dtype)
                }
            }
            var expected = [UInt8](repeating: 0, count: out.count)
            for r in 0..<rows {
                for c in 0..<cols {
                    for b in 0..<es { expected[(r * dstRowStride + c) * es + b] = src[(c * srcColStride + r) * es + b] }
                }
            }
            #expect(out == expected, "seed \(seed) \(dtype) \(rows)x\(cols) strides \(srcColStride), \(dstRowStride)")
        }
    }

    /// A tensor cut into random tiles, and a composition of random parts, read over random boxes, give the
    /// bytes of the whole tensor.
    @Test(arguments: seeds) func tiledAndComposedReadsEqualTheWhole(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let shape = randomShape(&g)
        let n = shape.reduce(1, *)
        let values: [Float] = (0..<n).map { Float($0) + 0.5 }
        let whole = ContiguousArray(values)
        let keep = Holder(whole)
        try keep.values.withUnsafeBytes { buf in
            let source = ContiguousTensor(dtype: .f32, shape: shape, base: buf.baseAddress, owner: keep)
            let tileBoxes = randomTiling(shape, &g)
            var tileStore = [Holder]()
            var tiles = [TiledTensor.Tile]()
            for b in tileBoxes {
                let h = Holder(ContiguousArray(try source.readFloats(b)))
                tileStore.append(h)
                h.values.withUnsafeBytes { tb in
                    tiles.append(.init(box: b, data: ContiguousTensor(dtype: .f32, shape: b.sizes, base: tb.baseAddress, owner: h)))
                }
            }
            let tiled = try TiledTensor(dtype: .f32, shape: shape, tiles: tiles.shuffled(using: &g))
            let composed = ComposedTensor(dtype: .f32, shape: shape, parts: randomTiling(shape, &g).map {
                .init(box: $0, source: tiled, sourceOrigin: $0.offsets, axisMap: Array(0..<shape.count))
            })
            try composed.validate(name: "p")
            for _ in 0..<4 {
                let b = randomBox(in: shape, &g)
                let want = try source.readFloats(b)
                #expect(try tiled.readFloats(b) == want)
                #expect(try composed.readFloats(b) == want)
            }
            withExtendedLifetime(tileStore) {}
        }
    }
}

final class Holder {
    let values: ContiguousArray<Float>
    init(_ v: ContiguousArray<Float>) { values = v }
}

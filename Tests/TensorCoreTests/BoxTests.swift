import Testing
@testable import TensorCore

@Suite struct BoxTests {
    /// Slabs are in row-major order, contiguous, within the limit, and cover the box exactly once.
    @Test(arguments: [([2, 3, 4, 5], 40), ([2, 3, 4, 5], 7), ([7], 8), ([1, 1, 6, 4], 32), ([3, 2], 1000), ([2, 128, 16, 8], 256)])
    func slabsTileInRowMajorOrder(shape: [Int], maxBytes: Int) {
        let box = Box(offsets: shape.map { _ in 1 }, sizes: shape)
        let slabs = box.slabs(maxBytes: maxBytes, elementSize: 4)
        #expect(tilingProblem(of: slabs.map { $0.shifted(by: box.offsets.map { -$0 }) }, covering: shape) == nil)
        let strides = Shape.rowMajorStrides(shape)
        var next = 0
        for s in slabs {
            let first = zip(zip(s.offsets, box.offsets).map { $0 - $1 }, strides).map { $0 * $1 }.reduce(0, +)
            #expect(first == next)    // each slab starts where the previous one ended
            next += s.elementCount
            #expect(s.elementCount * 4 <= maxBytes || s.sizes.dropLast().allSatisfy { $0 == 1 })
        }
        #expect(next == box.elementCount)
    }

    @Test func tiling() {
        #expect(tilingProblem(of: [Box(offsets: [0, 0], sizes: [2, 2]), Box(offsets: [2, 0], sizes: [2, 2])], covering: [4, 2]) == nil)
        #expect(tilingProblem(of: [Box(offsets: [0, 0], sizes: [2, 2])], covering: [4, 2])?.contains("hole") == true)
        #expect(tilingProblem(of: [Box(offsets: [0, 0], sizes: [3, 2]), Box(offsets: [2, 0], sizes: [2, 2])], covering: [4, 2])?.contains("overlap") == true)
    }
}

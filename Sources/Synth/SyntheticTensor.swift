import Foundation
import Bridge
import TensorCore

/// A tensor of seeded pseudo-random values that exists only as a formula.
///
/// Element `i` (row-major index in the whole tensor) is `center + scale · u`, with `u` uniform in [-1, 1)
/// taken from splitmix64 at counter `i` of a stream keyed by (seed, tensor name). Because every element
/// depends only on its index, any region can be generated on its own, in any order and on any thread,
/// and always comes out the same: `pieces(covering:)` fills a fresh buffer for just the requested box,
/// so the writer's bounded slabs never materialise the tensor.
public final class SyntheticTensor: TensorSource {
    public let dtype: DType
    public let shape: [Int]
    /// The key of this tensor's random stream (from the seed and the name).
    public let key: UInt64
    public let center: Float
    public let scale: Float
    private let strides: [Int]

    /// - Parameters:
    ///   - dtype: F32, BF16 or F16.
    ///   - center: the mean (1 for norm weights, 0 otherwise).
    ///   - scale: half the width of the uniform spread.
    public init(name: String, shape: [Int], dtype: DType, seed: UInt64, center: Float = 0, scale: Float = 0.02) throws {
        guard dtype == .f32 || dtype == .bf16 || dtype == .f16 else {
            throw BridgeError(.request, "synthetic tensors can be F32, BF16 or F16, not \(dtype)")
        }
        self.dtype = dtype
        self.shape = shape
        self.center = center
        self.scale = scale
        key = Self.streamKey(seed: seed, name: name)
        strides = Shape.rowMajorStrides(shape)
    }

    /// The values of norm weights center on 1 (as trained norms do); everything else on 0.
    public static func isNormWeight(_ name: String) -> Bool {
        name.hasSuffix("norm.weight") || name.hasSuffix(".norm1.weight") || name.hasSuffix(".norm2.weight")
    }

    /// A stable 64-bit key: FNV-1a of the name, mixed with the seed (no `Hasher`, which is randomised per process).
    static func streamKey(seed: UInt64, name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return mix(h ^ mix(seed &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// splitmix64's output function.
    @inline(__always) static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The value of element `index` as fp32 (before rounding to `dtype`).
    @inline(__always) public func value(at index: Int) -> Float {
        let r = Self.mix(key &+ UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15)
        // 24 random bits -> [0, 1) exactly in fp32, then [-1, 1).
        let u = Float(r >> 40) * (1.0 / 16_777_216.0)
        return center + scale * (2 * u - 1)
    }

    /// fp32 -> bf16 rounding to nearest even (the values are finite, so no NaN case); inlined here because
    /// the TensorCore version is not inlinable across modules and dominated the generation time.
    @inline(__always) static func bf16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    public func pieces(covering box: Box) throws -> [TensorPiece] {
        guard Box(shape: shape).contains(box) else {
            throw TensorCoreError(.shape, "region \(box) lies outside the tensor's shape \(Shape.describe(shape))")
        }
        if box.isEmpty { return [] }
        let buffer = GeneratedBuffer.forThisThread(byteCount: box.elementCount * dtype.byteSize!)
        fill(box, into: buffer.base)
        return [TensorPiece(box: box, data: .memory(base: UnsafeRawPointer(buffer.base), strides: Shape.rowMajorStrides(box.sizes),
                                                    dtype: dtype, owner: buffer))]
    }

    /// Writes the elements of `box`, row-major, into `dest`.
    public func fill(_ box: Box, into dest: UnsafeMutableRawPointer) {
        let rank = box.rank
        if rank == 0 {
            store(from: 0, count: 1, into: dest)
            return
        }
        let inner = box.sizes[rank - 1]
        let outerDims = Array(box.sizes.dropLast())
        let outerCount = outerDims.reduce(1, *)
        let es = dtype.byteSize!
        var idx = [Int](repeating: 0, count: rank - 1)
        var base = 0
        for i in 0..<rank { base += box.offsets[i] * strides[i] }
        var out = dest
        for _ in 0..<outerCount {
            var linear = base
            for a in 0..<(rank - 1) { linear += idx[a] * strides[a] }
            store(from: linear, count: inner, into: out)
            out += inner * es
            _ = Box.advance(&idx, within: outerDims)
        }
    }

    /// Elements `start ..< start + count` of the whole tensor into `dest`, in `dtype`.
    @inline(__always) private func store(from start: Int, count: Int, into dest: UnsafeMutableRawPointer) {
        switch dtype {
        case .f32:
            let d = dest.assumingMemoryBound(to: Float.self)
            for j in 0..<count { d[j] = value(at: start + j) }
        case .bf16:
            let d = dest.assumingMemoryBound(to: UInt16.self)
            for j in 0..<count { d[j] = Self.bf16(value(at: start + j)) }
        default:
            let d = dest.assumingMemoryBound(to: UInt16.self)
            for j in 0..<count { d[j] = FloatCast.floatToF16(value(at: start + j)) }
        }
    }
}

/// Memory a generated piece points into.
///
/// Each thread keeps its most recent buffer, for two reasons. A piece's `owner` is otherwise the buffer's
/// only strong reference, and a consumer that binds the base pointer out of the piece lets ARC release the
/// piece (and free the memory) before it has used the pointer: `WriteExecutor`'s zero-copy path does
/// exactly that. And reusing the buffer for the thread's next slab, once no piece refers to it any more,
/// saves the page faults of a fresh allocation per slab (the writer asks for slabs of up to 128 MB).
/// Consumers ask for pieces one slab at a time per thread, so this holds at most one slab per thread.
final class GeneratedBuffer {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    init(byteCount: Int) {
        capacity = Swift.max(1, byteCount)
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit { base.deallocate() }

    private static let slotKey = "CheckpointBridge.SyntheticTensor.lastBuffer"

    /// A buffer of at least `byteCount` bytes: this thread's previous one when nothing else refers to it
    /// and it is large enough, else a new one (which becomes this thread's).
    static func forThisThread(byteCount: Int) -> GeneratedBuffer {
        let slots = Thread.current.threadDictionary
        if var previous = slots[slotKey] as? GeneratedBuffer {
            slots.removeObject(forKey: slotKey)
            if previous.capacity >= byteCount && isKnownUniquelyReferenced(&previous) {
                slots[slotKey] = previous
                return previous
            }
        }
        let fresh = GeneratedBuffer(byteCount: byteCount)
        slots[slotKey] = fresh
        return fresh
    }
}

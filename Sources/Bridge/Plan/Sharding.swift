import TensorCore

/// One rank's piece of a Megatron parameter.
public struct Shard: Equatable, Sendable {
    /// The region of the (global) parameter.
    public var box: Box
    /// The TP rank holding it (the ETP rank for experts).
    public var rank: Int
}

/// How each parallel kind cuts a parameter into shards.
public enum Sharding {
    /// The shards of a parameter of `shape`, split `ways` ways (TP, or ETP for experts).
    ///
    /// Gated (SwiGLU) parameters are stored as [gate; up]; each rank holds [gate_r; up_r], saved by
    /// Megatron as two chunks (fragments r and r + ways of 2·ways), even when `ways` is 1.
    public static func shards(shape: [Int], kind: ParallelKind, gated: Bool, ways: Int, name: String) throws -> [Shard] {
        let whole = Box(shape: shape)
        switch kind {
        case .replicated:
            return [Shard(box: whole, rank: 0)]
        case .row, .expertRow:
            if shape.count < 2 { return [Shard(box: whole, rank: 0)] }
            return try split(whole, axis: 1, ways: ways, name: name)
        case .column, .vocab, .expertColumn:
            if gated {
                guard shape[0] % 2 == 0 else { throw BridgeError(.shape, "gated parameter has an odd first axis", key: name) }
                let half = shape[0] / 2
                let gate = try split(whole.narrowed(axis: 0, offset: 0, size: half), axis: 0, ways: ways, name: name)
                let up = try split(whole.narrowed(axis: 0, offset: half, size: half), axis: 0, ways: ways, name: name)
                return zip(gate, up).flatMap { [$0, $1] }
            }
            return try split(whole, axis: 0, ways: ways, name: name)
        }
    }

    private static func split(_ box: Box, axis: Int, ways: Int, name: String) throws -> [Shard] {
        let n = box.sizes[axis]
        guard n % ways == 0 else {
            throw BridgeError(.layout, "axis \(axis) of size \(n) does not split \(ways) ways", key: name,
                              hint: "choose a TP/ETP size that divides it")
        }
        let step = n / ways
        return (0..<ways).map { r in
            Shard(box: box.narrowed(axis: axis, offset: box.offsets[axis] + r * step, size: step), rank: r)
        }
    }
}

import TensorCore

/// Where a Megatron parameter lives in a torch_dist checkpoint: its storage key and the axes prepended
/// to its own shape (a layer axis for stacked modules, an expert axis for grouped-GEMM experts).
public struct StoragePlacement: Equatable, Sendable {
    public struct Axis: Equatable, Sendable {
        public var index: Int
        public var count: Int
    }

    public var key: String
    public var prefix: [Axis]

    /// The storage offsets of this parameter's first element, for its prepended axes.
    public var prefixOffsets: [Int] { prefix.map(\.index) }
    public var prefixCounts: [Int] { prefix.map(\.count) }

    /// A part of a storage tensor: `source`, a parameter of `shape`, placed at this parameter's prepended axes.
    public func part(placing source: TensorSource, shape: [Int]) -> ComposedTensor.Part {
        ComposedTensor.Part(box: Box(offsets: prefixOffsets + [Int](repeating: 0, count: shape.count),
                                     sizes: [Int](repeating: 1, count: prefix.count) + shape),
                            source: source, sourceOrigin: [Int](repeating: 0, count: shape.count),
                            axisMap: [Int?](repeating: nil, count: prefix.count) + (0..<shape.count).map { $0 })
    }

    /// The other way: the parameter of `shape` read out of `storage`, the storage tensor.
    public func part(readingFrom storage: TensorSource, shape: [Int]) -> ComposedTensor.Part {
        ComposedTensor.Part(box: Box(shape: shape), source: storage,
                            sourceOrigin: prefixOffsets + [Int](repeating: 0, count: shape.count),
                            axisMap: (0..<shape.count).map { $0 + prefix.count })
    }

    /// The ShardedObject suffix Megatron gives an `_extra_state` at this place: `shard_{offsets}_{shape}`.
    public var shardedObjectSuffix: String {
        let p = prefix.isEmpty ? [Axis(index: 0, count: 1)] : prefix
        return "shard_" + p.map { String($0.index) }.joined(separator: ".") + "_" + p.map { String($0.count) }.joined(separator: ".")
    }
}

/// Applies a table's `stacks` and `experts` rules to Megatron parameter names.
public enum StorageLayout {
    public static func placement(of name: String, context: ModelContext) throws -> StoragePlacement {
        var key = name
        var axes = [StoragePlacement.Axis]()
        for s in context.table.stacks {
            let full = NamePattern(s.prefix.text + ".**")
            guard let caps = full.match(name), let idx = Int(caps[0]) else { continue }
            if context.isHomogeneous(s.over) {
                let base = String(s.prefix.text.dropLast(2))
                key = base + "." + caps[1]
                axes.append(.init(index: idx, count: context.stackCount(s.over)))
            }
            break
        }
        for r in context.table.expertRules {
            let full = NamePattern("**." + r.logical.text)
            guard let caps = full.match(key), let e = Int(caps[1]) else { continue }
            key = caps[0] + "." + r.storage
            axes.append(.init(index: e, count: context.language.numMoeExperts ?? 0))
            break
        }
        return StoragePlacement(key: key, prefix: axes)
    }
}

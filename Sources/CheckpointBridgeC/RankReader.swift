import Bridge
import TensorCore

/// The tensors of one Megatron rank read straight from an HF checkpoint (`ckpt_bridge_rank_open`): the
/// import plan is built and checked as for an import, then each local tensor is read on request, slab by
/// slab, into the caller's buffer; or, when its bytes already lie in the mapped file as one run of the
/// right dtype, handed out as a pointer into the mapping (valid while the reader is open).
final class RankReader {
    let plan: ImportPlan
    let tensors: [RankLocalTensor]
    let rank: (tp: Int, pp: Int, ep: Int)
    /// Bytes gathered per step when copying (the memory a read holds besides the caller's buffer).
    static let slabBytes = 16 << 20

    init(_ r: inout Request) throws {
        var rankFields = try r.object("rank")
        _ = try r.string("out_dir")
        plan = try Operations.importPlan(&r)
        try r.finish()
        let tp = try rankFields?.int("tp", min: 0) ?? 0, pp = try rankFields?.int("pp", min: 0) ?? 0, ep = try rankFields?.int("ep", min: 0) ?? 0
        try rankFields?.finish()
        rank = (tp, pp, ep)
        tensors = try plan.rankLocalTensors(rank: rank)
    }

    /// The tensor list: index, name, dtype, shape, bytes, and whether a zero-copy view is possible.
    var listing: JSONValue {
        let l = plan.request.layout
        return .object([
            ("family", .string(plan.context.table.family)), ("layout", .string(l.description)),
            ("rank", .object([("tp", .int(rank.tp)), ("pp", .int(rank.pp)), ("ep", .int(rank.ep))])),
            ("tensors", .array(tensors.enumerated().map { i, t in
                .object([("index", .int(i)), ("name", .string(t.name)), ("dtype", .string(t.source.dtype.rawValue)),
                         ("shape", .ints(t.source.shape)), ("bytes", .int(t.source.byteCount)), ("view", .bool((try? view(i)) != nil))])
            })),
            ("total_bytes", .int(tensors.reduce(0) { $0 + $1.source.byteCount })),
        ])
    }

    private func tensor(_ index: Int) throws -> RankLocalTensor {
        guard index >= 0 && index < tensors.count else {
            throw BridgeError(.request, "rank tensor index \(index) is outside 0..<\(tensors.count)", hint: "use the indices of the listing")
        }
        return tensors[index]
    }

    /// A pointer to the tensor's bytes in the mapped file, when they are one contiguous run of the right dtype.
    func view(_ index: Int) throws -> UnsafeRawPointer? {
        let t = try tensor(index).source
        guard t.byteCount > 0 else { return nil }
        let pieces = try t.pieces(covering: Box(shape: t.shape))
        guard pieces.count == 1, case let .memory(base, strides, dtype, owner) = pieces[0].data, dtype == t.dtype, owner is MappedFile,
              Shape.isRowMajor(t.shape, strides: strides) else { return nil }
        return base
    }

    /// Copies the tensor into `dest` (exactly `capacity` bytes, its byte count), releasing the mapped pages read.
    func read(_ index: Int, into dest: UnsafeMutableRawPointer?, capacity: Int) throws {
        let named = try tensor(index)
        let t = named.source
        guard capacity == t.byteCount else {
            throw BridgeError(.request, "buffer of \(capacity) bytes for a tensor of \(t.byteCount)", key: named.name, hint: "allocate exactly 'bytes' of the listing")
        }
        guard t.byteCount > 0, let dest else { return }
        guard let es = t.dtype.byteSize else {
            throw BridgeError(.request, "\(t.dtype.rawValue) tensors cannot be read by the rank reader", key: named.name)
        }
        var written = 0
        for slab in Box(shape: t.shape).slabs(maxBytes: Self.slabBytes, elementSize: es) {
            let pieces = try t.pieces(covering: slab)
            try withExtendedLifetime(pieces) {
                try StridedCopy.gather(pieces, box: slab, as: t.dtype, into: dest + written)
            }
            WriteExecutor.releaseMappedPages(pieces)
            written += slab.elementCount * es
        }
    }

}

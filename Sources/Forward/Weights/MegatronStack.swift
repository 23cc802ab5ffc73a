import TensorCore

/// A Megatron-Core module list (`decoder.layers`, `deepstack_merger_list`) as stored: either stacked
/// (homogeneous layers: key `<prefix>.<param>` with a leading axis of length `count`, as torch_dist
/// saves them) or per item (key `<prefix>.<i>.<param>`, heterogeneous stacks and in-memory names).
struct MegatronStack {
    let table: TensorTable
    /// e.g. `language_model.decoder.layers`.
    let prefix: String
    let count: Int

    func stackedKey(_ param: String) -> String { "\(prefix).\(param)" }
    func itemKey(_ param: String, _ i: Int) -> String { "\(prefix).\(i).\(param)" }

    func has(_ param: String, _ i: Int) -> Bool { table.has(stackedKey(param)) || table.has(itemKey(param, i)) }

    /// Parameter `param` of item `i`, whose per-item shape is `shape`.
    func floats(_ param: String, _ i: Int, shape: [Int]) throws -> [Float] {
        let stacked = stackedKey(param)
        if table.has(stacked) {
            return try table.floats(stacked, shape: [count] + shape,
                                    box: Box(offsets: [i] + shape.map { _ in 0 }, sizes: [1] + shape))
        }
        let item = itemKey(param, i)
        if table.has(item) { return try table.floats(item, shape: shape) }
        throw table.missing("'\(param)' of item \(i) of \(prefix)", tried: [stacked, item])
    }

    /// Parameter `param` of item `i` as a matrix [rows, cols] read on demand.
    func matrix(_ param: String, _ i: Int, rows: Int, cols: Int) throws -> MatrixRows {
        let stacked = stackedKey(param)
        if table.has(stacked) {
            return try .tensor(table, stacked, rows: rows, cols: cols, prefix: [i], prefixShape: [count])
        }
        let item = itemKey(param, i)
        if table.has(item) { return try .tensor(table, item, rows: rows, cols: cols) }
        throw table.missing("'\(param)' of item \(i) of \(prefix)", tried: [stacked, item])
    }

    /// Sub-item `j` of parameter `param` of item `i`, into `dest` (as `floats(_:_:sub:of:shape:)`).
    func read(_ param: String, _ i: Int, sub j: Int, of n: Int, shape: [Int], into dest: UnsafeMutablePointer<Float>) throws {
        let zeros = shape.map { _ in 0 }
        let stacked = stackedKey(param)
        if table.has(stacked) {
            return try table.read(stacked, shape: [count, n] + shape, box: Box(offsets: [i, j] + zeros, sizes: [1, 1] + shape), into: dest)
        }
        let item = itemKey(param, i)
        if table.has(item) {
            return try table.read(item, shape: [n] + shape, box: Box(offsets: [j] + zeros, sizes: [1] + shape), into: dest)
        }
        throw table.missing("'\(param)' of item \(i) of \(prefix)", tried: [stacked, item])
    }

    /// Sub-item `j` (an expert) of parameter `param` of item `i`: stacked [count, n, shape...] or per item [n, shape...].
    func floats(_ param: String, _ i: Int, sub j: Int, of n: Int, shape: [Int]) throws -> [Float] {
        let zeros = shape.map { _ in 0 }
        let stacked = stackedKey(param)
        if table.has(stacked) {
            return try table.floats(stacked, shape: [count, n] + shape, box: Box(offsets: [i, j] + zeros, sizes: [1, 1] + shape))
        }
        let item = itemKey(param, i)
        if table.has(item) {
            return try table.floats(item, shape: [n] + shape, box: Box(offsets: [j] + zeros, sizes: [1] + shape))
        }
        throw table.missing("'\(param)' of item \(i) of \(prefix)", tried: [stacked, item])
    }
}

/// Megatron's fused QKV rows, split the way Megatron's attention does at run time
/// (`get_query_key_value_tensors`): the rows are viewed as [ng, nh/ng + 2, hd]; in each query group the
/// first nh/ng heads are queries, then one key head, then one value head.
enum MegatronQKV {
    /// The row ranges of q, k and v in the fused [(nh + 2ng)·hd, ·] matrix, group by group.
    static func rowRanges(heads nh: Int, groups ng: Int, headDim hd: Int) -> (q: [Range<Int>], k: [Range<Int>], v: [Range<Int>]) {
        precondition(nh % ng == 0)
        let perGroup = nh / ng
        var q = [Range<Int>](), k = [Range<Int>](), v = [Range<Int>]()
        for g in 0..<ng {
            let start = g * (perGroup + 2) * hd
            q.append(start..<(start + perGroup * hd))
            k.append((start + perGroup * hd)..<(start + (perGroup + 1) * hd))
            v.append((start + (perGroup + 1) * hd)..<(start + (perGroup + 2) * hd))
        }
        return (q, k, v)
    }

    /// Splits a [(nh + 2ng)·hd, cols] matrix (cols = 1 for a bias) into q [nh·hd, cols], k and v [ng·hd, cols].
    static func split(_ w: [Float], heads nh: Int, groups ng: Int, headDim hd: Int, cols: Int) -> (q: [Float], k: [Float], v: [Float]) {
        precondition(w.count == (nh + 2 * ng) * hd * cols && nh % ng == 0)
        let perGroup = nh / ng
        let headSize = hd * cols
        var q = [Float](), k = [Float](), v = [Float]()
        q.reserveCapacity(nh * headSize); k.reserveCapacity(ng * headSize); v.reserveCapacity(ng * headSize)
        for g in 0..<ng {
            let groupStart = g * (perGroup + 2) * headSize
            q += w[groupStart..<(groupStart + perGroup * headSize)]
            k += w[(groupStart + perGroup * headSize)..<(groupStart + (perGroup + 1) * headSize)]
            v += w[(groupStart + (perGroup + 1) * headSize)..<(groupStart + (perGroup + 2) * headSize)]
        }
        return (q, k, v)
    }
}

/// Turning machine nodes into `PickleValue` trees, with the depth, size and cycle checks.
extension PickleMachine {
    /// The value of `slot` and its logical size (values counted with repetition).
    ///
    /// With `cached` (the final pass at STOP) each node is converted once and its value shared by every
    /// reference, so memo reuse costs no memory; the size check still bounds what consumers will walk.
    /// Without it (arguments of interpreted calls, while the machine runs), nodes may still change later,
    /// so nothing is cached and the work is charged to a budget shared by the whole read.
    mutating func materialize(_ slot: PickleSlot, depth: Int, cached: Bool) throws -> (PickleValue, Int) {
        switch slot {
        case let .leaf(v, _, size):
            if !cached { try charge(size) }
            return (v, size)
        case let .node(node):
            return try materialize(node, depth: depth, cached: cached)
        }
    }

    private mutating func charge(_ n: Int) throws {
        workLeft -= n
        if workLeft < 0 {
            throw error(.pickleLimit, "pickle expands to more than the limit of \(limits.maxItems) items (memo reuse)")
        }
    }

    private func nodeError(_ node: PickleNode, _ code: TorchFormatsError.Code, _ message: String) -> TorchFormatsError {
        TorchFormatsError(code, message, file: input.file, byteOffset: input.baseOffset + node.offset)
    }

    private mutating func materialize(_ node: PickleNode, depth: Int, cached: Bool) throws -> (PickleValue, Int) {
        if cached, let c = node.cached { return c }
        guard depth < limits.maxDepth else {
            throw nodeError(node, .pickleLimit, "containers nest deeper than the limit of \(limits.maxDepth)")
        }
        guard !node.visiting else { throw nodeError(node, .pickleInvalid, "a container contains itself (recursive structure)") }
        node.visiting = true
        defer { node.visiting = false }
        if !cached { try charge(1) }
        var size = 1
        func add(_ s: Int) throws {
            size += s
            if size > limits.maxItems {
                throw nodeError(node, .pickleLimit, "value holds more than the limit of \(limits.maxItems) items (memo reuse)")
            }
        }
        func one(_ s: PickleSlot) throws -> PickleValue {
            let (v, n) = try materialize(s, depth: depth + 1, cached: cached)
            try add(n)
            return v
        }
        func many(_ items: [PickleSlot]) throws -> [PickleValue] {
            var out = [PickleValue]()
            out.reserveCapacity(items.count)
            for s in items { out.append(try one(s)) }
            return out
        }
        func pairs(_ items: [(PickleSlot, PickleSlot)]) throws -> [(PickleValue, PickleValue)] {
            var out = [(PickleValue, PickleValue)]()
            out.reserveCapacity(items.count)
            for (k, v) in items { out.append((try one(k), try one(v))) }
            return out
        }
        let value: PickleValue
        switch node.content {
        case let .list(items): value = .list(try many(items))
        case let .tuple(items): value = .tuple(try many(items))
        case let .dict(d): value = .dict(try pairs(d.items))
        case let .set(items, frozen): value = .set(try many(items), frozen: frozen)
        case let .persistentID(p): value = .persistentID(try one(p))
        case let .object(parts):
            value = .object(PickleObject(module: parts.module, name: parts.name, construction: parts.construction,
                                         args: try many(parts.args), kwargs: try pairs(parts.kwargs),
                                         listItems: try many(parts.listItems), dictItems: try pairs(parts.dictItems),
                                         state: try parts.state.map { try one($0) }))
        case .released:
            throw nodeError(node, .pickleInvalid, "internal error: value used after release")
        }
        if cached { node.cached = (value, size) }
        return (value, size)
    }

    /// A decoded value put back on the stack as a leaf, with its height and size measured (bounded by the
    /// limits and charged to the shared budget, so repeated measuring cannot hang).
    mutating func leafSlot(_ v: PickleValue) throws -> PickleSlot {
        let (h, s) = try measure(v, depth: 0)
        return .leaf(v, height: h, size: s)
    }

    private mutating func measure(_ v: PickleValue, depth: Int) throws -> (Int, Int) {
        guard depth < limits.maxDepth else {
            throw error(.pickleLimit, "containers nest deeper than the limit of \(limits.maxDepth)")
        }
        try charge(1)
        var h = 1, s = 1
        func sub(_ c: PickleValue) throws {
            let (ch, cs) = try measure(c, depth: depth + 1)
            h = Swift.max(h, ch + 1)
            s += cs
        }
        switch v {
        case let .list(items), let .tuple(items), let .set(items, _):
            for c in items { try sub(c) }
        case let .dict(items):
            for (k, x) in items { try sub(k); try sub(x) }
        case let .persistentID(p): try sub(p)
        case let .object(o):
            for c in o.args + o.listItems { try sub(c) }
            for (k, x) in o.kwargs + o.dictItems { try sub(k); try sub(x) }
            if let st = o.state { try sub(st) }
        default: break
        }
        return (h, s)
    }
}

import Foundation

/// The pickle machine: stack, marks, memo and the run loop (opcodes are in PickleMachineStep.swift,
/// calls in PickleCalls.swift, conversion to values in PickleMaterializer.swift). A struct, so that its hot
/// state is accessed without dynamic exclusivity checks.
struct PickleMachine {
    var input: PickleInput
    let limits: PickleReader.Limits
    let allowlist: PickleAllowlist
    var stack: [PickleSlot] = []
    var marks: [Int] = []
    /// The memo: dense indices (MEMOIZE, sequential PUTs) in an array, anything else in a dictionary.
    var memoDense: [PickleSlot?] = []
    var memoSparse: [Int: PickleSlot] = [:]
    var memoCount = 0
    /// Every node made, so that teardown can cut links iteratively (a hostile chain of a million nested
    /// lists would otherwise be freed recursively and overflow the thread's stack).
    var nodes: [PickleNode] = []
    /// Values materialized while running (REDUCE arguments of interpreted globals), bounded in total.
    var workLeft: Int
    var opOffset = 0

    init(input: PickleInput, limits: PickleReader.Limits, allowlist: PickleAllowlist) {
        self.input = input
        self.limits = limits
        self.allowlist = allowlist
        workLeft = limits.maxItems
    }

    mutating func release() {
        for n in nodes {
            n.content = .released
            n.cached = nil
        }
        nodes.removeAll()
        stack.removeAll()
        memoDense.removeAll()
        memoSparse.removeAll()
    }

    // MARK: Errors

    func error(_ code: TorchFormatsError.Code, _ message: String, hint: String? = nil) -> TorchFormatsError {
        TorchFormatsError(code, message, file: input.file, byteOffset: input.baseOffset + opOffset, hint: hint)
    }

    func invalid(_ message: String) -> TorchFormatsError { error(.pickleInvalid, message) }

    // MARK: Stack

    mutating func push(_ s: PickleSlot) throws {
        guard stack.count < limits.maxStackItems else {
            throw error(.pickleLimit, "pickle stack exceeds the limit of \(limits.maxStackItems) entries")
        }
        stack.append(s)
    }

    mutating func push(_ v: PickleValue) throws { try push(.scalar(v)) }

    mutating func pop(_ op: PickleOpcode) throws -> PickleSlot {
        guard stack.count > (marks.last ?? 0) else { throw invalid("\(op.name) on an empty stack") }
        return stack.removeLast()
    }

    func top(_ op: PickleOpcode) throws -> PickleSlot {
        guard stack.count > (marks.last ?? 0) else { throw invalid("\(op.name) on an empty stack") }
        return stack[stack.count - 1]
    }

    mutating func popMark(_ op: PickleOpcode) throws -> [PickleSlot] {
        guard let m = marks.popLast() else { throw invalid("\(op.name) without a MARK") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    mutating func newNode(_ content: PickleNode.Content) throws -> PickleNode {
        guard nodes.count < limits.maxItems else {
            throw error(.pickleLimit, "pickle creates more than \(limits.maxItems) containers")
        }
        let n = PickleNode(content, offset: opOffset)
        nodes.append(n)
        return n
    }

    /// Records that `child` now sits inside `node` and checks the nesting limit.
    func adopt(_ child: PickleSlot, into node: PickleNode) throws {
        let h = child.height + 1
        if h > node.height {
            node.height = h
            if h > limits.maxDepth {
                throw error(.pickleLimit, "containers nest deeper than the limit of \(limits.maxDepth)")
            }
        }
    }

    /// A tuple: a leaf when every item is immutable, else a node.
    mutating func makeTuple(_ items: [PickleSlot]) throws -> PickleSlot {
        var values = [PickleValue]()
        values.reserveCapacity(items.count)
        var height = 1, size = 1
        for it in items {
            guard case let .leaf(v, h, s) = it else {
                let n = try newNode(.tuple(items))
                for c in items { try adopt(c, into: n) }
                return .node(n)
            }
            values.append(v)
            height = Swift.max(height, h + 1)
            size += s
        }
        guard height <= limits.maxDepth else {
            throw error(.pickleLimit, "containers nest deeper than the limit of \(limits.maxDepth)")
        }
        guard size <= limits.maxItems else {
            throw error(.pickleLimit, "value holds more than the limit of \(limits.maxItems) items (memo reuse)")
        }
        return .leaf(.tuple(values), height: height, size: size)
    }

    // MARK: Memo

    mutating func memoPut(_ index: Int) throws {
        guard index >= 0 else { throw invalid("negative memo index \(index)") }
        let s = try top(.put)
        let isNew = index < memoDense.count ? memoDense[index] == nil : memoSparse[index] == nil
        if isNew {
            guard memoCount < limits.maxMemoEntries else {
                throw error(.pickleLimit, "memo exceeds the limit of \(limits.maxMemoEntries) entries")
            }
            memoCount += 1
        }
        if index < memoDense.count {
            memoDense[index] = s
        } else if index <= memoDense.count + 1024 && memoSparse.isEmpty {
            // Grow densely only by small steps, so a hostile index cannot allocate a huge array.
            while memoDense.count < index { memoDense.append(nil) }
            memoDense.append(s)
        } else {
            memoSparse[index] = s
        }
    }

    mutating func memoGet(_ index: Int) throws {
        let s = index >= 0 && index < memoDense.count ? memoDense[index] : memoSparse[index]
        guard let s else { throw invalid("memo key \(index) was never stored") }
        try push(s)
    }

    // MARK: Run

    mutating func run() throws -> PickleValue {
        while true {
            opOffset = input.position
            let raw = try input.byte("an opcode")
            guard let op = PickleOpcode(rawValue: raw) else {
                throw invalid("unknown opcode 0x\(String(raw, radix: 16, uppercase: true))")
            }
            if op == .stop { return try finish() }
            try step(op)
        }
    }

    private mutating func finish() throws -> PickleValue {
        guard marks.isEmpty else { throw invalid("STOP with \(marks.count) unclosed MARK(s)") }
        guard stack.count == 1 else { throw invalid("STOP with \(stack.count) values on the stack (expected 1)") }
        guard input.isAtEnd else {
            throw TorchFormatsError(.pickleInvalid, "\(input.remaining) bytes follow the pickle's STOP opcode", file: input.file,
                                    byteOffset: input.baseOffset + input.position)
        }
        let (value, _) = try materialize(stack[0], depth: 0, cached: true)
        return value
    }

    // MARK: Helpers

    func kind(_ s: PickleSlot) -> String {
        switch s {
        case let .leaf(v, _, _): return v.kindDescription
        case let .node(n):
            switch n.content {
            case .list: return "list"
            case .tuple: return "tuple"
            case .dict: return "dict"
            case let .set(_, frozen): return frozen ? "frozenset" : "set"
            case let .object(o): return "\(o.module).\(o.name) object"
            case .persistentID: return "persistent id"
            case .released: return "released value"
            }
        }
    }

    mutating func tupleItems(_ s: PickleSlot, _ op: PickleOpcode) throws -> [PickleSlot] {
        switch s {
        case let .leaf(.tuple(values), _, _): return try values.map { try leafSlot($0) }
        case let .node(n):
            if case let .tuple(items) = n.content { return items }
        default: break
        }
        throw invalid("\(op.name) arguments must be a tuple, not a \(kind(s))")
    }
}

/// A mutable container built while a pickle runs. Python containers are shared by reference (the memo
/// hands out the same list twice; SETITEMS fills a dict after it was memoized), so the machine works on
/// nodes and turns them into `PickleValue` trees only at STOP.
final class PickleNode {
    enum Content {
        case list([PickleSlot])
        case tuple([PickleSlot])
        case dict(DictItems)
        case set([PickleSlot], frozen: Bool)
        case object(ObjectParts)
        case persistentID(PickleSlot)
        case released
    }

    struct DictItems {
        var items: [(PickleSlot, PickleSlot)] = []
        /// Positions of string and int keys, so that a repeated key replaces its value as in Python.
        var stringIndex: [String: Int] = [:]
        var intIndex: [Int: Int] = [:]
        /// Made by `collections.OrderedDict(...)`: a later BUILD (instance attributes such as a state
        /// dict's `_metadata`) turns the node into an OrderedDict object that keeps both.
        var isOrderedDict = false

        mutating func set(_ key: PickleSlot, _ value: PickleSlot) {
            if case let .leaf(.string(s), _, _) = key {
                if let i = stringIndex[s] { items[i].1 = value; return }
                stringIndex[s] = items.count
            } else if case let .leaf(.int(n), _, _) = key {
                if let i = intIndex[n] { items[i].1 = value; return }
                intIndex[n] = items.count
            }
            items.append((key, value))
        }
    }

    struct ObjectParts {
        var module: String
        var name: String
        var construction: PickleObject.Construction
        var args: [PickleSlot]
        var kwargs: [(PickleSlot, PickleSlot)] = []
        var listItems: [PickleSlot] = []
        var dictItems: [(PickleSlot, PickleSlot)] = []
        var state: PickleSlot?
    }

    var content: Content
    /// Where the opcode that made this node starts (relative to the pickle).
    let offset: Int
    /// 1 + the deepest child's height, as of the last insertion (children filled later may make it stale;
    /// the materializer checks depth exactly).
    var height = 1
    /// Set once materialized at STOP; shared by every reference, so memo reuse costs no memory.
    var cached: (value: PickleValue, size: Int)?
    var visiting = false

    init(_ content: Content, offset: Int) {
        self.content = content
        self.offset = offset
    }
}

/// One stack entry of the machine: an immutable value or a shared node.
///
/// Leaves carry their nesting height and their logical size (values counted with repetition), because
/// immutable tuples can share sub-values through the memo: `(a, a)` of `(b, b)` of … is small in memory
/// but exponential for anyone who walks it, so sizes are bounded as values are built.
enum PickleSlot {
    case leaf(PickleValue, height: Int, size: Int)
    case node(PickleNode)

    var height: Int {
        switch self {
        case let .leaf(_, h, _): return h
        case let .node(n): return n.height
        }
    }

    static func scalar(_ v: PickleValue) -> PickleSlot { .leaf(v, height: 1, size: 1) }
}

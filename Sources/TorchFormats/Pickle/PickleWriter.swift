/// Encodes a `PickleValue` tree as a protocol-2 pickle, deterministically and with protocol-2 opcodes
/// only (no memo, FRAME, STACK_GLOBAL, SHORT_BINUNICODE or BINBYTES), because torch's `weights_only`
/// unpickler refuses everything newer (format reference §2.4).
///
/// The output matches what CPython's pickler emits for the same objects at protocol 2, except that
/// nothing is memoized (BINPUT is optional) and empty bytes use `_codecs.encode('', 'latin1')` like
/// non-empty bytes (CPython writes `bytes()`, which `weights_only` may not allow).
public struct PickleWriter {
    /// CPython's batch size for APPENDS/SETITEMS.
    static let batchSize = 1000
    /// Deepest nesting written (the reader's default limit).
    public var maxDepth = 1000
    private(set) var out: [UInt8] = []

    public init() {}

    /// The pickle of `value`: PROTO 2, the value, STOP.
    public static func serialize(_ value: PickleValue) throws -> [UInt8] {
        var w = PickleWriter()
        w.out.append(contentsOf: [PickleOpcode.proto.rawValue, 2])
        try w.write(value, depth: 0)
        w.op(.stop)
        return w.out
    }

    private mutating func op(_ o: PickleOpcode) { out.append(o.rawValue) }

    private mutating func le(_ v: UInt64, _ n: Int) {
        for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    private func fail(_ message: String) -> TorchFormatsError {
        TorchFormatsError(.pickleWrite, message)
    }

    mutating func write(_ v: PickleValue, depth: Int) throws {
        guard depth < maxDepth else { throw fail("value nests deeper than \(maxDepth) levels") }
        let d = depth + 1
        switch v {
        case .none: op(.none)
        case let .bool(b): op(b ? .newTrue : .newFalse)
        case let .int(i): writeInt(i)
        case let .bigInt(bytes): writeLong(bytes)
        case let .float(f):
            op(.binFloat)
            let bits = f.bitPattern
            for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        case let .string(s): try writeString(s)
        case let .bytes(b):
            // Protocol 2 has no bytes opcode torch accepts: CPython writes _codecs.encode(latin-1 text, 'latin1').
            writeGlobal("_codecs", "encode")
            try writeString(String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) })))
            try writeString("latin1")
            op(.tuple2)
            op(.reduce)
        case let .list(items):
            op(.emptyList)
            try writeAppends(items, depth: d)
        case let .tuple(items): try writeTuple(items, depth: d)
        case let .dict(items):
            op(.emptyDict)
            try writeSetItems(items, depth: d)
        case let .set(items, frozen):
            writeGlobal("builtins", frozen ? "frozenset" : "set")
            op(.emptyList)
            try writeAppends(items, depth: d + 1)
            op(.tuple1)
            op(.reduce)
        case let .global(module, name): writeGlobal(module, name)
        case let .object(o): try writeObject(o, depth: d)
        case let .persistentID(pid):
            try write(pid, depth: d)
            op(.binPersID)
        case .tensor, .tensorPayload:
            throw fail("a tensor can only be pickled inside a torch.save archive (use TorchSaveWriter)")
        }
    }

    private mutating func writeInt(_ i: Int) {
        if i >= 0 && i <= 0xFF {
            op(.binInt1)
            out.append(UInt8(i))
        } else if i >= 0 && i <= 0xFFFF {
            op(.binInt2)
            le(UInt64(i), 2)
        } else if i >= -0x8000_0000 && i <= 0x7FFF_FFFF {
            op(.binInt)
            le(UInt64(bitPattern: Int64(i)), 4)
        } else {
            writeLong(PickleLong.bytes(of: i))
        }
    }

    private mutating func writeLong(_ bytes: [UInt8]) {
        if bytes.count < 256 {
            op(.long1)
            out.append(UInt8(bytes.count))
        } else {
            op(.long4)
            le(UInt64(bytes.count), 4)
        }
        out.append(contentsOf: bytes)
    }

    private mutating func writeString(_ s: String) throws {
        let u = Array(s.utf8)
        guard u.count <= 0xFFFF_FFFF else { throw fail("string of \(u.count) bytes is too long for protocol 2") }
        op(.binUnicode)
        le(UInt64(u.count), 4)
        out.append(contentsOf: u)
    }

    private mutating func writeGlobal(_ module: String, _ name: String) {
        op(.global)
        out.append(contentsOf: Array(module.utf8))
        out.append(0x0A)
        out.append(contentsOf: Array(name.utf8))
        out.append(0x0A)
    }

    private mutating func writeTuple(_ items: [PickleValue], depth: Int) throws {
        switch items.count {
        case 0: op(.emptyTuple)
        case 1...3:
            for it in items { try write(it, depth: depth) }
            op([PickleOpcode.tuple1, .tuple2, .tuple3][items.count - 1])
        default:
            op(.mark)
            for it in items { try write(it, depth: depth) }
            op(.tuple)
        }
    }

    private mutating func writeAppends(_ items: [PickleValue], depth: Int) throws {
        var i = 0
        while i < items.count {
            let n = Swift.min(Self.batchSize, items.count - i)
            if n == 1 {
                try write(items[i], depth: depth)
                op(.append)
            } else {
                op(.mark)
                for k in i..<(i + n) { try write(items[k], depth: depth) }
                op(.appends)
            }
            i += n
        }
    }

    private mutating func writeSetItems(_ items: [(PickleValue, PickleValue)], depth: Int) throws {
        var i = 0
        while i < items.count {
            let n = Swift.min(Self.batchSize, items.count - i)
            if n == 1 {
                try write(items[i].0, depth: depth)
                try write(items[i].1, depth: depth)
                op(.setItem)
            } else {
                op(.mark)
                for k in i..<(i + n) {
                    try write(items[k].0, depth: depth)
                    try write(items[k].1, depth: depth)
                }
                op(.setItems)
            }
            i += n
        }
    }

    /// `cls(*args)` or `cls.__new__(cls, *args)`, then list items, dict items and BUILD(state), in the
    /// order CPython's `save_reduce` uses.
    private mutating func writeObject(_ o: PickleObject, depth: Int) throws {
        guard o.kwargs.isEmpty else { throw fail("\(o.qualifiedName): keyword arguments need protocol 4 (NEWOBJ_EX)") }
        writeGlobal(o.module, o.name)
        try writeTuple(o.args, depth: depth + 1)
        op(o.construction == .newObj ? .newObj : .reduce)
        if !o.listItems.isEmpty { try writeAppends(o.listItems, depth: depth) }
        if !o.dictItems.isEmpty { try writeSetItems(o.dictItems, depth: depth) }
        if let s = o.state {
            try write(s, depth: depth)
            op(.build)
        }
    }
}

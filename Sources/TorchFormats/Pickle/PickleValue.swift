import TensorCore

/// A value decoded from (or to be encoded into) a pickle stream.
///
/// The reader never runs code: calls to allowlisted classes become `.object` records, and the few
/// globals torch relies on are interpreted into plain values (`OrderedDict` → `.dict`, `torch.Size` →
/// `.tuple` of ints, `_codecs.encode` → `.bytes`, `_rebuild_tensor_v2/_v3` → `.tensor`). The writer
/// takes the same tree, plus `.tensorPayload` leaves that the torch.save writer turns into storages.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer that does not fit `Int`: little-endian two's complement bytes (as LONG1/LONG4 store it).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// A dict (or OrderedDict) with its items in insertion order.
    case dict([(PickleValue, PickleValue)])
    case set([PickleValue], frozen: Bool)
    /// A reference to `module.name` that was not called (a dtype, a storage class, a function).
    case global(module: String, name: String)
    /// An instance of an allowlisted class: the class, how it was constructed, and its state.
    case object(PickleObject)
    /// The result of PERSID/BINPERSID: the persistent id itself, for the caller to resolve.
    case persistentID(PickleValue)
    /// A tensor rebuilt by `torch._utils._rebuild_tensor_v2/_v3` (read side): where its bytes are.
    case tensor(PickledTensor)
    /// A tensor to be written by `TorchSaveWriter` (write side): where its bytes come from.
    case tensorPayload(TorchTensorPayload)
}

/// An instance of an allowlisted class, recorded rather than constructed.
public struct PickleObject: Equatable {
    /// How the stream built the object: `cls(*args)` via REDUCE, or `cls.__new__(cls, *args)` via NEWOBJ(_EX).
    public enum Construction: String, Equatable, Sendable {
        case reduce, newObj
    }

    public var module: String
    public var name: String
    public var construction: Construction
    public var args: [PickleValue]
    /// Keyword arguments of NEWOBJ_EX (empty otherwise).
    public var kwargs: [(PickleValue, PickleValue)]
    /// Items appended with APPEND/APPENDS (list subclasses).
    public var listItems: [PickleValue]
    /// Items set with SETITEM/SETITEMS (dict subclasses).
    public var dictItems: [(PickleValue, PickleValue)]
    /// The BUILD argument (`__setstate__` or `__dict__.update`), nil when there was no BUILD.
    public var state: PickleValue?

    public init(module: String, name: String, construction: Construction = .newObj, args: [PickleValue] = [],
                kwargs: [(PickleValue, PickleValue)] = [], listItems: [PickleValue] = [],
                dictItems: [(PickleValue, PickleValue)] = [], state: PickleValue? = nil) {
        self.module = module
        self.name = name
        self.construction = construction
        self.args = args
        self.kwargs = kwargs
        self.listItems = listItems
        self.dictItems = dictItems
        self.state = state
    }

    /// `module.name`.
    public var qualifiedName: String { "\(module).\(name)" }

    /// An attribute from a dict state (`obj.__dict__[name]`), nil when absent.
    public func attribute(_ name: String) -> PickleValue? { state?[name] }

    public static func == (a: PickleObject, b: PickleObject) -> Bool {
        a.module == b.module && a.name == b.name && a.construction == b.construction && a.args == b.args
            && pairsEqual(a.kwargs, b.kwargs) && a.listItems == b.listItems && pairsEqual(a.dictItems, b.dictItems)
            && a.state == b.state
    }
}

func pairsEqual(_ a: [(PickleValue, PickleValue)], _ b: [(PickleValue, PickleValue)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
}

extension PickleValue: Equatable {
    public static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.bigInt(x), .bigInt(y)): return x == y
        case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x == y
        case let (.bytes(x), .bytes(y)): return x == y
        case let (.list(x), .list(y)): return x == y
        case let (.tuple(x), .tuple(y)): return x == y
        case let (.dict(x), .dict(y)): return pairsEqual(x, y)
        case let (.set(x, f1), .set(y, f2)): return f1 == f2 && x == y
        case let (.global(m1, n1), .global(m2, n2)): return m1 == m2 && n1 == n2
        case let (.object(x), .object(y)): return x == y
        case let (.persistentID(x), .persistentID(y)): return x == y
        case let (.tensor(x), .tensor(y)): return x == y
        case let (.tensorPayload(x), .tensorPayload(y)): return x === y
        default: return false
        }
    }
}

// MARK: - Accessors

extension PickleValue {
    /// The entry for a string key of a dict, nil when this is not a dict or the key is absent.
    public func dictValue(for key: String) -> PickleValue? {
        guard let items = dictItems else { return nil }
        return items.last(where: { $0.0 == .string(key) })?.1
    }

    /// A dict's entry by string key, or an object's attribute (from its dict state).
    public subscript(key: String) -> PickleValue? {
        if dictItems != nil { return dictValue(for: key) }
        if case let .object(o) = self { return o.attribute(key) }
        return nil
    }

    /// True for an OrderedDict that kept instance attributes (`.object` form; see `dictItems`).
    public var isOrderedDictObject: Bool {
        if case let .object(o) = self, o.module == "collections", o.name == "OrderedDict", o.args.isEmpty, o.listItems.isEmpty {
            return true
        }
        return false
    }

    public var isNone: Bool { if case .none = self { return true }; return false }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var intValue: Int? { if case let .int(i) = self { return i }; return nil }
    /// A float, or an int widened to a double.
    public var doubleValue: Double? {
        switch self {
        case let .float(d): return d
        case let .int(i): return Double(i)
        default: return nil
        }
    }
    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var bytesValue: [UInt8]? { if case let .bytes(b) = self { return b }; return nil }
    public var listValue: [PickleValue]? { if case let .list(l) = self { return l }; return nil }
    public var tupleValue: [PickleValue]? { if case let .tuple(t) = self { return t }; return nil }
    /// The elements of a list or a tuple.
    public var sequenceValue: [PickleValue]? {
        switch self {
        case let .list(l): return l
        case let .tuple(t): return t
        default: return nil
        }
    }
    /// The items of a dict, or of an OrderedDict kept as an object because it has attributes (a torch
    /// module state dict carries `_metadata`; read it with `objectValue?.state`).
    public var dictItems: [(PickleValue, PickleValue)]? {
        switch self {
        case let .dict(d): return d
        case let .object(o) where isOrderedDictObject: return o.dictItems
        default: return nil
        }
    }
    public var objectValue: PickleObject? { if case let .object(o) = self { return o }; return nil }
    public var tensorValue: PickledTensor? { if case let .tensor(t) = self { return t }; return nil }
    /// `module.name` of a global.
    public var globalName: String? { if case let .global(m, n) = self { return "\(m).\(n)" }; return nil }
    /// A list or tuple (e.g. a `torch.Size`) made only of ints.
    public var intArray: [Int]? {
        guard let s = sequenceValue else { return nil }
        var out = [Int]()
        out.reserveCapacity(s.count)
        for v in s {
            guard let i = v.intValue else { return nil }
            out.append(i)
        }
        return out
    }
    /// A dict whose keys are all strings, as ordered pairs.
    public var stringKeyedItems: [(String, PickleValue)]? {
        guard let items = dictItems else { return nil }
        var out = [(String, PickleValue)]()
        out.reserveCapacity(items.count)
        for (k, v) in items {
            guard let s = k.stringValue else { return nil }
            out.append((s, v))
        }
        return out
    }

    /// A short name of the value's kind, for error messages.
    public var kindDescription: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case let .set(_, frozen): return frozen ? "frozenset" : "set"
        case let .global(m, n): return "global \(m).\(n)"
        case let .object(o): return "\(o.qualifiedName) object"
        case .persistentID: return "persistent id"
        case .tensor, .tensorPayload: return "tensor"
        }
    }
}

// MARK: - Builders for the values torch and Megatron pickle

extension PickleValue {
    /// An `argparse.Namespace` with the given attributes, pickled as `Namespace.__new__` + BUILD(dict).
    public static func namespace(_ attributes: [(String, PickleValue)]) -> PickleValue {
        .object(PickleObject(module: "argparse", name: "Namespace", construction: .newObj,
                             state: .dict(attributes.map { (.string($0.0), $0.1) })))
    }

    /// A `collections.OrderedDict` (REDUCE with no arguments, then SETITEMS), as torch pickles state dicts.
    public static func orderedDict(_ items: [(PickleValue, PickleValue)]) -> PickleValue {
        .object(PickleObject(module: "collections", name: "OrderedDict", construction: .reduce, dictItems: items))
    }

    /// A `torch.Size` (REDUCE of `torch.Size` on a tuple of ints).
    public static func torchSize(_ dims: [Int]) -> PickleValue {
        .object(PickleObject(module: "torch", name: "Size", construction: .reduce, args: [.tuple(dims.map { .int($0) })]))
    }

    /// A dict with string keys.
    public static func stringDict(_ items: [(String, PickleValue)]) -> PickleValue {
        .dict(items.map { (.string($0.0), $0.1) })
    }
}

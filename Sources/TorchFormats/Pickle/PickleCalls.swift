/// GLOBAL, REDUCE/NEWOBJ and BUILD: how allowlisted globals are looked up and "called" without running
/// anything. Calls either record an `.object` or interpret a handful of torch/stdlib globals into values.
extension PickleMachine {
    func global(module: String, name: String) throws -> PickleSlot {
        guard allowlist.role(module: module, name: name) != nil else {
            throw error(.pickleForbiddenGlobal,
                        "pickle refers to the global \(module).\(name), which is not allowlisted; nothing was imported or run",
                        hint: "only torch tensors, DCP metadata and Megatron-Core's safe globals may appear in a checkpoint")
        }
        return .scalar(.global(module: PickleAllowlist.normalizedModule(module), name: name))
    }

    mutating func call(_ callable: PickleSlot, args: [PickleSlot], construction: PickleObject.Construction,
              kwargs: PickleSlot? = nil, _ op: PickleOpcode) throws -> PickleSlot {
        guard case let .leaf(.global(module, name), _, _) = callable, let role = allowlist.role(module: module, name: name) else {
            throw invalid("\(op.name) on a \(kind(callable)): only allowlisted globals can be called")
        }
        let qualified = "\(module).\(name)"
        if let kwargs {
            guard role == .object else { throw invalid("\(op.name) with keyword arguments on \(qualified)") }
            guard case let .node(kn) = kwargs, case let .dict(d) = kn.content else {
                throw invalid("\(op.name) keyword arguments must be a dict")
            }
            return try objectNode(module, name, construction, args, kwargs: d.items)
        }
        switch role {
        case .object:
            return try objectNode(module, name, construction, args)
        case .constant:
            throw invalid("\(qualified) cannot be called (\(op.name))")
        case .orderedDict:
            var empty = PickleNode.DictItems()
            empty.isOrderedDict = true
            let node = try newNode(.dict(empty))
            guard args.count <= 1 else { throw invalid("\(qualified) takes at most one argument") }
            if let a = args.first {
                let (v, _) = try materialize(a, depth: 0, cached: false)
                guard let seq = v.sequenceValue else { throw invalid("\(qualified) argument must be a list of pairs") }
                var d = PickleNode.DictItems()
                d.isOrderedDict = true
                for p in seq {
                    guard let kv = p.sequenceValue, kv.count == 2 else { throw invalid("\(qualified) argument must be a list of pairs") }
                    let k = try leafSlot(kv[0]), x = try leafSlot(kv[1])
                    try adopt(k, into: node)
                    try adopt(x, into: node)
                    d.set(k, x)
                }
                node.content = .dict(d)
            }
            return .node(node)
        case .set, .frozenSet:
            var items = [PickleSlot]()
            guard args.count <= 1 else { throw invalid("\(qualified) takes at most one argument") }
            if let a = args.first {
                let (v, _) = try materialize(a, depth: 0, cached: false)
                guard let seq = v.sequenceValue else { throw invalid("\(qualified) argument must be a list") }
                items = try seq.map { try leafSlot($0) }
            }
            let node = try newNode(.set(items, frozen: role == .frozenSet))
            for c in items { try adopt(c, into: node) }
            return .node(node)
        case .torchSize:
            guard construction == .reduce, args.count == 1 else { throw invalid("torch.Size takes one tuple of ints") }
            let (v, _) = try materialize(args[0], depth: 0, cached: false)
            guard let dims = v.intArray else { throw invalid("torch.Size argument must be a tuple of ints, not \(v.kindDescription)") }
            return try leafSlot(.tuple(dims.map { .int($0) }))
        case .codecsEncode, .bytesConstructor:
            let values = try args.map { try materialize($0, depth: 0, cached: false).0 }
            return .scalar(.bytes(try bytes(qualified, values)))
        case .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .rebuildFromTypeV2:
            guard construction == .reduce else { throw invalid("\(qualified) must be called with REDUCE") }
            let values = try args.map { try materialize($0, depth: 0, cached: false).0 }
            do {
                return .scalar(.tensor(try TorchRebuild.tensor(role: role, name: qualified, args: values, allowlist: allowlist)))
            } catch let e as TorchFormatsError {
                throw e.with(file: input.file, byteOffset: input.baseOffset + opOffset)
            }
        }
    }

    private mutating func objectNode(_ module: String, _ name: String, _ construction: PickleObject.Construction, _ args: [PickleSlot],
                            kwargs: [(PickleSlot, PickleSlot)] = []) throws -> PickleSlot {
        let node = try newNode(.object(PickleNode.ObjectParts(module: module, name: name, construction: construction,
                                                              args: args, kwargs: kwargs)))
        for c in args { try adopt(c, into: node) }
        for (k, v) in kwargs { try adopt(k, into: node); try adopt(v, into: node) }
        return .node(node)
    }

    /// `_codecs.encode(str, enc)`, `bytes(...)`, `bytearray(...)`.
    private mutating func bytes(_ qualified: String, _ args: [PickleValue]) throws -> [UInt8] {
        switch args.count {
        case 0: return []
        case 1:
            if let b = args[0].bytesValue { return b }
            if let ints = args[0].intArray, ints.allSatisfy({ (0...255).contains($0) }) { return ints.map { UInt8($0) } }
        case 2:
            if let s = args[0].stringValue, let enc = args[1].stringValue {
                switch enc.lowercased() {
                case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
                    var out = [UInt8]()
                    out.reserveCapacity(s.unicodeScalars.count)
                    for u in s.unicodeScalars {
                        guard u.value <= 0xFF else { throw invalid("\(qualified): character U+\(String(u.value, radix: 16)) is not latin-1") }
                        out.append(UInt8(u.value))
                    }
                    return out
                case "utf-8", "utf8": return Array(s.utf8)
                default: throw invalid("\(qualified): unsupported encoding '\(enc)'")
                }
            }
        default: break
        }
        throw invalid("\(qualified) called with unsupported arguments (\(args.map(\.kindDescription).joined(separator: ", ")))")
    }

    mutating func build(_ target: PickleSlot, state: PickleSlot) throws {
        // torch pickles a module state dict as an OrderedDict plus BUILD({'_metadata': …}): keep both.
        if case let .node(node) = target, case let .dict(d) = node.content, d.isOrderedDict {
            node.content = .object(PickleNode.ObjectParts(module: "collections", name: "OrderedDict", construction: .reduce,
                                                          args: [], dictItems: d.items))
        }
        guard case let .node(node) = target, case var .object(parts) = node.content else {
            throw invalid("BUILD on a \(kind(target)): only objects of allowlisted classes take a state")
        }
        if let existing = parts.state {
            // A second BUILD updates `__dict__` again; only dict-into-dict is meaningful.
            guard case let .node(old) = existing, case var .dict(d) = old.content,
                  case let .node(new) = state, case let .dict(add) = new.content else {
                throw invalid("BUILD on a \(parts.module).\(parts.name) object that already has a state")
            }
            for (k, v) in add.items {
                d.set(k, v)
                try adopt(k, into: old)
                try adopt(v, into: old)
            }
            old.content = .dict(d)
        } else {
            parts.state = state
            node.content = .object(parts)
        }
        try adopt(state, into: node)
    }
}

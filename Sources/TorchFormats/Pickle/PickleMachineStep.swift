import Foundation

/// The opcode dispatch of the pickle machine: what each opcode does to the stack, the marks and the memo.
extension PickleMachine {
    mutating func step(_ op: PickleOpcode) throws {
        switch op {
        case .proto:
            let v = try input.byte("PROTO")
            guard v <= 5 else { throw invalid("unsupported pickle protocol \(v)") }
        case .frame:
            let n = try input.u64("FRAME")
            guard n <= input.remaining else { throw input.truncated("a FRAME of \(n) bytes", at: opOffset) }
        case .stop:
            break
        case .mark:
            guard marks.count < limits.maxDepth else {
                throw error(.pickleLimit, "MARKs nest deeper than the limit of \(limits.maxDepth)")
            }
            marks.append(stack.count)
        case .pop:
            if stack.count > (marks.last ?? 0) { stack.removeLast() } else { _ = try popMark(op) }
        case .popMark:
            _ = try popMark(op)
        case .dup:
            try push(try top(op))
        // Scalars
        case .none: try push(.none)
        case .newTrue: try push(.bool(true))
        case .newFalse: try push(.bool(false))
        case .binInt: try push(.int(try input.i32("BININT")))
        case .binInt1: try push(.int(Int(try input.byte("BININT1"))))
        case .binInt2: try push(.int(try input.u16("BININT2")))
        case .long1:
            let n = Int(try input.byte("LONG1"))
            try push(PickleLong.value(fromLittleEndian: Array(try input.take(n, "LONG1"))))
        case .long4:
            let n = try input.i32("LONG4")
            guard n >= 0 else { throw invalid("LONG4 with negative length \(n)") }
            try push(PickleLong.value(fromLittleEndian: Array(try input.take(n, "LONG4"))))
        case .int:
            let t = try input.textLine("INT", at: opOffset)
            switch t {
            case "00": try push(.bool(false))
            case "01": try push(.bool(true))
            default:
                guard let v = PickleText.integer(t) else { throw invalid("INT argument '\(t.prefix(40))' is not an integer") }
                try push(v)
            }
        case .long:
            var t = try input.textLine("LONG", at: opOffset)
            if t.hasSuffix("L") { t.removeLast() }
            guard let v = PickleText.integer(t) else { throw invalid("LONG argument '\(t.prefix(40))' is not an integer") }
            try push(v)
        case .float:
            let t = try input.textLine("FLOAT", at: opOffset)
            guard let d = Double(t) else { throw invalid("FLOAT argument '\(t.prefix(40))' is not a number") }
            try push(.float(d))
        case .binFloat:
            let b = try input.take(8, "BINFLOAT")
            var bits: UInt64 = 0
            for i in 0..<8 { bits = bits << 8 | UInt64(b[i]) }
            try push(.float(Double(bitPattern: bits)))
        // Strings and bytes
        case .binUnicode: try push(.string(try utf8(try input.take(try input.u32("BINUNICODE"), "BINUNICODE"), op)))
        case .shortBinUnicode:
            try push(.string(try utf8(try input.take(Int(try input.byte(op.name)), op.name), op)))
        case .binUnicode8: try push(.string(try utf8(try input.take(try input.u64(op.name), op.name), op)))
        case .unicode:
            let raw = try input.line("UNICODE")
            guard let s = PickleText.rawUnicodeEscape(raw) else { throw invalid("malformed UNICODE argument") }
            try push(.string(s))
        case .string:
            guard let b = PickleText.quotedString(try input.line("STRING")) else { throw invalid("malformed STRING argument") }
            guard let s = String(validating: b, as: UTF8.self) else { throw invalid("STRING argument is not valid UTF-8") }
            try push(.string(s))
        case .binString:
            let n = try input.i32(op.name)
            guard n >= 0 else { throw invalid("BINSTRING with negative length \(n)") }
            try push(.string(try utf8(try input.take(n, op.name), op)))
        case .shortBinString: try push(.string(try utf8(try input.take(Int(try input.byte(op.name)), op.name), op)))
        case .binBytes: try push(.bytes(Array(try input.take(try input.u32(op.name), op.name))))
        case .shortBinBytes: try push(.bytes(Array(try input.take(Int(try input.byte(op.name)), op.name))))
        case .binBytes8, .byteArray8: try push(.bytes(Array(try input.take(try input.u64(op.name), op.name))))
        case .nextBuffer, .readOnlyBuffer:
            throw error(.pickleUnsupported, "\(op.name): out-of-band buffers (protocol 5) are not supported",
                        hint: "torch.save never writes them")
        // Containers
        case .emptyList: try push(.node(try newNode(.list([]))))
        case .emptyDict: try push(.node(try newNode(.dict(PickleNode.DictItems()))))
        case .emptySet: try push(.node(try newNode(.set([], frozen: false))))
        case .emptyTuple: try push(.leaf(.tuple([]), height: 1, size: 1))
        case .tuple: try push(try makeTuple(try popMark(op)))
        case .tuple1, .tuple2, .tuple3:
            let n = Int(op.rawValue - PickleOpcode.tuple1.rawValue) + 1
            guard stack.count - (marks.last ?? 0) >= n else { throw invalid("\(op.name) needs \(n) values on the stack") }
            let items = Array(stack.suffix(n))
            stack.removeLast(n)
            try push(try makeTuple(items))
        case .list:
            let items = try popMark(op)
            let node = try newNode(.list(items))
            for c in items { try adopt(c, into: node) }
            try push(.node(node))
        case .dict:
            let items = try popMark(op)
            guard items.count % 2 == 0 else { throw invalid("DICT with an odd number of values") }
            let node = try newNode(.dict(PickleNode.DictItems()))
            try setItems(items, into: node, op)
            try push(.node(node))
        case .frozenSet:
            let items = try popMark(op)
            let node = try newNode(.set(items, frozen: true))
            for c in items { try adopt(c, into: node) }
            try push(.node(node))
        case .append:
            let v = try pop(op)
            try appendItems([v], to: try top(op), op)
        case .appends:
            let items = try popMark(op)
            try appendItems(items, to: try top(op), op)
        case .setItem:
            let v = try pop(op)
            let k = try pop(op)
            guard case let .node(node) = try top(op) else { throw invalid("SETITEM on a \(kind(try top(op)))") }
            try setItems([k, v], into: node, op)
        case .setItems:
            let items = try popMark(op)
            guard items.count % 2 == 0 else { throw invalid("SETITEMS with an odd number of values") }
            guard case let .node(node) = try top(op) else { throw invalid("SETITEMS on a \(kind(try top(op)))") }
            try setItems(items, into: node, op)
        case .addItems:
            let items = try popMark(op)
            guard case let .node(node) = try top(op), case .set(var existing, let frozen) = node.content, !frozen else {
                throw invalid("ADDITEMS on something that is not a set")
            }
            node.content = .released
            existing.append(contentsOf: items)
            node.content = .set(existing, frozen: false)
            for c in items { try adopt(c, into: node) }
        // Memo
        case .put: try memoPut(try decimal(try input.textLine("PUT", at: opOffset), op))
        case .binPut: try memoPut(Int(try input.byte(op.name)))
        case .longBinPut: try memoPut(try input.u32(op.name))
        case .memoize: try memoPut(memoCount)
        case .get: try memoGet(try decimal(try input.textLine("GET", at: opOffset), op))
        case .binGet: try memoGet(Int(try input.byte(op.name)))
        case .longBinGet: try memoGet(try input.u32(op.name))
        // Globals, calls and persistent ids
        case .global:
            let module = try input.textLine("GLOBAL module", at: opOffset)
            let name = try input.textLine("GLOBAL name", at: opOffset)
            try push(try global(module: module, name: name))
        case .stackGlobal:
            let n = try pop(op), m = try pop(op)
            guard case let .leaf(.string(name), _, _) = n, case let .leaf(.string(module), _, _) = m else {
                throw invalid("STACK_GLOBAL needs two strings")
            }
            try push(try global(module: module, name: name))
        case .inst:
            let module = try input.textLine("INST module", at: opOffset)
            let name = try input.textLine("INST name", at: opOffset)
            let cls = try global(module: module, name: name)
            let args = try popMark(op)
            try push(try call(cls, args: args, construction: .reduce, op))
        case .obj:
            var items = try popMark(op)
            guard !items.isEmpty else { throw invalid("OBJ without a class") }
            let cls = items.removeFirst()
            try push(try call(cls, args: items, construction: .reduce, op))
        case .reduce:
            let args = try pop(op), callable = try pop(op)
            try push(try call(callable, args: try tupleItems(args, op), construction: .reduce, op))
        case .newObj:
            let args = try pop(op), cls = try pop(op)
            try push(try call(cls, args: try tupleItems(args, op), construction: .newObj, op))
        case .newObjEx:
            let kwargs = try pop(op), args = try pop(op), cls = try pop(op)
            try push(try call(cls, args: try tupleItems(args, op), construction: .newObj, kwargs: kwargs, op))
        case .build:
            let state = try pop(op)
            try build(try top(op), state: state)
        case .ext1, .ext2, .ext4:
            throw error(.pickleUnsupported, "\(op.name): the copyreg extension registry is not supported",
                        hint: "torch.save never writes extension codes")
        case .persID:
            let pid = try input.textLine("PERSID", at: opOffset)
            try push(.node(try newNode(.persistentID(.scalar(.string(pid))))))
        case .binPersID:
            let pid = try pop(op)
            let node = try newNode(.persistentID(pid))
            try adopt(pid, into: node)
            try push(.node(node))
        }
    }

    private func utf8(_ raw: UnsafeRawBufferPointer, _ op: PickleOpcode) throws -> String {
        guard let s = String(validating: raw, as: UTF8.self) else { throw invalid("\(op.name) argument is not valid UTF-8") }
        return s
    }

    private func decimal(_ text: String, _ op: PickleOpcode) throws -> Int {
        guard let v = Int(text), v >= 0 else { throw invalid("\(op.name) argument '\(text.prefix(40))' is not a memo index") }
        return v
    }

    private mutating func appendItems(_ items: [PickleSlot], to target: PickleSlot, _ op: PickleOpcode) throws {
        guard case let .node(node) = target else { throw invalid("\(op.name) on a \(kind(target))") }
        switch node.content {
        case var .list(existing):
            node.content = .released  // drop the reference so the append does not copy
            existing.append(contentsOf: items)
            node.content = .list(existing)
        case var .object(parts):
            node.content = .released
            parts.listItems.append(contentsOf: items)
            node.content = .object(parts)
        default:
            throw invalid("\(op.name) on a \(kind(target))")
        }
        for c in items { try adopt(c, into: node) }
    }

    private mutating func setItems(_ items: [PickleSlot], into node: PickleNode, _ op: PickleOpcode) throws {
        switch node.content {
        case var .dict(d):
            node.content = .released
            var i = 0
            while i < items.count {
                d.set(items[i], items[i + 1])
                i += 2
            }
            node.content = .dict(d)
        case var .object(parts):
            node.content = .released
            var i = 0
            while i < items.count {
                parts.dictItems.append((items[i], items[i + 1]))
                i += 2
            }
            node.content = .object(parts)
        default:
            throw invalid("\(op.name) on a \(kind(.node(node)))")
        }
        for c in items { try adopt(c, into: node) }
    }
}

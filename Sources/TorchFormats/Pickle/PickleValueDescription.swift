import Foundation
/// A Python-like rendering of decoded values, for `inspect` output and error messages.
extension PickleValue: CustomStringConvertible {
    public var description: String { pythonRepr(limit: 10_000) }

    /// The value as Python would print it (objects as `module.Class(args, state=…)`), cut at about
    /// `limit` characters with `…`.
    public func pythonRepr(limit: Int = 2000) -> String {
        var out = ""
        render(self, into: &out, limit: limit)
        return out.count > limit ? String(out.prefix(limit)) + "…" : out
    }

    private func render(_ v: PickleValue, into out: inout String, limit: Int) {
        if out.count > limit { return }
        func seq(_ items: [PickleValue], _ open: String, _ close: String, trailingComma: Bool = false) {
            out += open
            for (i, x) in items.enumerated() {
                if i > 0 { out += ", " }
                if out.count > limit { out += "…"; break }
                render(x, into: &out, limit: limit)
            }
            if trailingComma && items.count == 1 { out += "," }
            out += close
        }
        func pairs(_ items: [(PickleValue, PickleValue)]) {
            out += "{"
            for (i, (k, x)) in items.enumerated() {
                if i > 0 { out += ", " }
                if out.count > limit { out += "…"; break }
                render(k, into: &out, limit: limit)
                out += ": "
                render(x, into: &out, limit: limit)
            }
            out += "}"
        }
        switch v {
        case .none: out += "None"
        case let .bool(b): out += b ? "True" : "False"
        case let .int(i): out += String(i)
        case let .bigInt(b): out += "<int of \(b.count) bytes>"
        case let .float(d): out += d == d.rounded() && abs(d) < 1e16 ? String(format: "%.1f", d) : "\(d)"
        case let .string(s): out += "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        case let .bytes(b): out += "b<\(b.count) bytes>"
        case let .list(items): seq(items, "[", "]")
        case let .tuple(items): seq(items, "(", ")", trailingComma: true)
        case let .dict(items): pairs(items)
        case let .set(items, frozen): seq(items, frozen ? "frozenset({" : "{", frozen ? "})" : "}")
        case let .global(m, n): out += "\(m).\(n)"
        case let .object(o):
            out += o.qualifiedName + "("
            var parts = [String]()
            for a in o.args { parts.append(a.pythonRepr(limit: limit)) }
            if !o.listItems.isEmpty { parts.append("items=" + PickleValue.list(o.listItems).pythonRepr(limit: limit)) }
            if !o.dictItems.isEmpty { parts.append(PickleValue.dict(o.dictItems).pythonRepr(limit: limit)) }
            if let s = o.state { parts.append("state=" + s.pythonRepr(limit: limit)) }
            out += parts.joined(separator: ", ") + ")"
        case let .persistentID(p):
            out += "persid("
            render(p, into: &out, limit: limit)
            out += ")"
        case let .tensor(t):
            out += "tensor(\(t.dtype), \(t.size), storage '\(t.storage.key)')"
        case let .tensorPayload(p):
            out += "tensor(\(p.dtype), \(p.shape))"
        }
    }
}

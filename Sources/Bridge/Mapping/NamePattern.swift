/// A tensor-name pattern from a mapping table. `*` matches one index (a run of digits); `**` matches the
/// rest of a name (anything, dots included). Captures are positional, in order of appearance, so that
/// `a.*.b.*` on one side and `c.*.d.*` on the other pair their indices up.
public struct NamePattern: Hashable, Sendable, CustomStringConvertible {
    public enum Piece: Hashable, Sendable {
        case literal(String)
        case index
        case suffix
    }

    public let text: String
    public let pieces: [Piece]

    public init(_ text: String) {
        self.text = text
        var pieces = [Piece]()
        var lit = ""
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == "*" {
                if !lit.isEmpty { pieces.append(.literal(lit)); lit = "" }
                if i + 1 < chars.count && chars[i + 1] == "*" {
                    pieces.append(.suffix)
                    i += 2
                } else {
                    pieces.append(.index)
                    i += 1
                }
            } else {
                lit.append(chars[i])
                i += 1
            }
        }
        if !lit.isEmpty { pieces.append(.literal(lit)) }
        self.pieces = pieces
        chars.removeAll()
    }

    public var description: String { text }

    /// The kinds of wildcard in order (index or suffix).
    public var wildcards: [Piece] { pieces.filter { $0 != .literal("") && !isLiteral($0) } }
    public var indexCount: Int { pieces.filter { $0 == .index }.count }
    public var hasSuffix: Bool { pieces.contains(.suffix) }

    private func isLiteral(_ p: Piece) -> Bool { if case .literal = p { return true }; return false }

    /// The captures when `name` matches the whole pattern, else nil.
    public func match(_ name: String) -> [String]? {
        let s = Array(name.utf8)
        var caps = [String]()
        return matchFrom(0, 0, s, &caps) ? caps : nil
    }

    private func matchFrom(_ pi: Int, _ si: Int, _ s: [UInt8], _ caps: inout [String]) -> Bool {
        if pi == pieces.count { return si == s.count }
        switch pieces[pi] {
        case let .literal(l):
            let lb = Array(l.utf8)
            guard si + lb.count <= s.count, Array(s[si..<(si + lb.count)]) == lb else { return false }
            return matchFrom(pi + 1, si + lb.count, s, &caps)
        case .index:
            var e = si
            while e < s.count, s[e] >= 48, s[e] <= 57 { e += 1 }
            guard e > si else { return false }
            // Indices are canonical decimal: no leading zeros (so "01" never aliases "1").
            if s[si] == 48 && e - si > 1 { return false }
            caps.append(String(decoding: s[si..<e], as: UTF8.self))
            if matchFrom(pi + 1, e, s, &caps) { return true }
            caps.removeLast()
            return false
        case .suffix:
            // Greedy from the longest capture down; names are short, so backtracking is cheap.
            var e = s.count
            while e >= si {
                caps.append(String(decoding: s[si..<e], as: UTF8.self))
                if matchFrom(pi + 1, e, s, &caps) { return true }
                caps.removeLast()
                e -= 1
            }
            return false
        }
    }

    /// The concrete name for `captures` (in order of appearance). Extra captures are ignored, so a pattern
    /// with fewer wildcards (a fused HF tensor holding every expert) renders from the leading captures.
    public func render(_ captures: [String]) throws -> String {
        var out = ""
        var k = 0
        for p in pieces {
            switch p {
            case let .literal(l): out += l
            case .index, .suffix:
                guard k < captures.count else {
                    throw BridgeError(.mappingTable, "pattern '\(text)' needs \(wildcards.count) indices, got \(captures.count)")
                }
                out += captures[k]
                k += 1
            }
        }
        return out
    }

    /// The pattern with `${name}` variables replaced.
    public func substituting(_ vars: [String: String]) -> NamePattern {
        var t = text
        for (k, v) in vars { t = t.replacingOccurrences(of: "${\(k)}", with: v) }
        return NamePattern(t)
    }
}

import Foundation

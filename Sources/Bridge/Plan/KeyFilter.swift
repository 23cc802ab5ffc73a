/// `--allow-unused` patterns: names that may be left out of a conversion on purpose. `*` matches an
/// index and `**` any suffix, as in the mapping tables; a pattern without wildcards matches one name.
public struct KeyFilter: Sendable {
    public var patterns: [NamePattern]

    public init(_ patterns: [String]) { self.patterns = patterns.map(NamePattern.init) }

    public func allows(_ name: String) -> Bool { patterns.contains { $0.match(name) != nil } }
}

import TensorCore

/// Typed, range-checked access to one JSON object of a config, with the field's path in every error.
///
/// Every integer is checked against its range before it is returned, so no caller does arithmetic on
/// (or allocates from) a value it has not bounded.
struct ConfigFields {
    let json: JSONValue
    /// The path prefix of this object's fields (`text_config.`, or empty for the top level).
    let path: String

    init(_ json: JSONValue, path: String) {
        self.json = json
        self.path = path
    }

    /// The fields of `section` ("" for this object itself).
    init?(_ top: JSONValue, section: String) {
        if section.isEmpty { self.init(top, path: ""); return }
        guard let v = top[section], v.objectMembers != nil else { return nil }
        self.init(v, path: section + ".")
    }

    func present(_ key: String) -> JSONValue? {
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }

    func object(_ key: String) -> ConfigFields? {
        guard let v = present(key), v.objectMembers != nil else { return nil }
        return ConfigFields(v, path: path + key + ".")
    }

    func error(_ key: String, _ summary: String, hint: String? = nil) -> ModelSpecError {
        ModelSpecError(.config, "config field \(path + key) \(summary)", key: path + key, hint: hint)
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard let i = v.intValue else { throw error(key, "must be an integer") }
        guard range.contains(i) else {
            throw error(key, "is \(i), outside \(range.lowerBound)…\(range.upperBound)",
                        hint: "the caps on sizes read from files are listed in Docs/limits.md")
        }
        return i
    }

    func int(_ key: String, in range: ClosedRange<Int>, default d: Int? = nil) throws -> Int {
        if let i = try optionalInt(key, in: range) { return i }
        if let d { return d }
        throw error(key, "is missing", hint: "the config.json does not describe a model of this family")
    }

    func optionalInts(_ key: String, in range: ClosedRange<Int>, maxCount: Int) throws -> [Int]? {
        guard let v = present(key) else { return nil }
        guard let a = v.arrayValue else { throw error(key, "must be a list of integers") }
        guard a.count <= maxCount else { throw error(key, "has \(a.count) entries, more than \(maxCount)") }
        return try a.map { x in
            guard let i = x.intValue else { throw error(key, "must be a list of integers") }
            guard range.contains(i) else { throw error(key, "holds \(i), outside \(range.lowerBound)…\(range.upperBound)") }
            return i
        }
    }

    /// A finite number within `range`.
    func optionalDouble(_ key: String, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw error(key, "must be a finite number") }
        guard range.contains(d) else { throw error(key, "is \(d), outside \(range.lowerBound)…\(range.upperBound)") }
        return d
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v.boolValue else { throw error(key, "must be true or false") }
        return b
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.stringValue else { throw error(key, "must be a string") }
        return s
    }
}

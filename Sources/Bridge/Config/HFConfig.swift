import TensorCore

/// A Hugging Face `config.json`, kept verbatim (so export can write it back unchanged) with typed access
/// to the fields the conversion needs.
///
/// Both spellings are understood: transformers 4.57 and the Hub (`rope_theta`, `rope_scaling`,
/// `num_experts`) and transformers 5.x (`rope_parameters`, `num_local_experts`). Vision-language models
/// keep the text fields under `text_config` and the vision fields under `vision_config`; text-only
/// models keep them at the top level.
public struct HFConfig {
    public var json: JSONValue
    /// Where the config came from, for error messages.
    public var path: String

    public init(json: JSONValue, path: String = "config.json") throws {
        guard json.objectMembers != nil else {
            throw BridgeError(.config, "config.json is not a JSON object", file: path)
        }
        self.json = json
        self.path = path
    }

    /// Reads `config.json` from a checkpoint folder (or the file itself).
    public init(directory: String) throws {
        let p = directory.hasSuffix(".json") ? directory : FileSystem.join(directory, "config.json")
        guard FileSystem.isFile(p) else {
            throw BridgeError(.config, "config.json not found", file: p,
                              hint: "a Hugging Face checkpoint folder must hold config.json next to the weights")
        }
        if let size = FileSystem.fileSize(p), size > Limits.configFileBytes {
            throw BridgeError(.config, "config.json is \(size) bytes, more than the limit of \(Limits.configFileBytes)", file: p,
                              hint: "a config.json is a few KB; this is not one")
        }
        let bytes = try BridgeError.during("cannot read the HF config", file: p) { try readWholeFile(p) }
        do {
            try self.init(json: try JSONParser.parse(bytes), path: p)
        } catch let e as JSONParseError {
            throw BridgeError(.config, "config.json is not valid JSON: \(e.message)", file: p, byteOffset: e.offset)
        }
    }

    public var architectures: [String] { json["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var modelType: String? { json["model_type"]?.stringValue }

    /// The sub-config holding the text model's fields (`text_config`, or the top level).
    public func section(_ name: String) -> JSONValue? {
        name.isEmpty ? json : json[name]
    }

    // MARK: typed field access with errors that name the field

    public func int(_ section: String, _ key: String) throws -> Int { try required(section, key, "an integer", \.intValue) }

    public func optionalInt(_ section: String, _ key: String) throws -> Int? { try optional(section, key, "an integer", \.intValue) }

    public func double(_ section: String, _ key: String) throws -> Double { try required(section, key, "a number", \.doubleValue) }

    public func optionalDouble(_ section: String, _ key: String) throws -> Double? { try optional(section, key, "a number", \.doubleValue) }

    public func optionalBool(_ section: String, _ key: String) throws -> Bool? { try optional(section, key, "true or false", \.boolValue) }

    public func optionalString(_ section: String, _ key: String) -> String? {
        self.section(section)?[key]?.stringValue
    }

    /// A field that must be there, read as `value` gives it; an error names the field when it is absent or
    /// of another kind (`want` says which; null is another kind).
    private func required<T>(_ section: String, _ key: String, _ want: String, _ value: (JSONValue) -> T?) throws -> T {
        guard let v = self.section(section)?[key] else { throw missing(section, key) }
        guard let x = value(v) else { throw bad(section, key, want) }
        return x
    }

    /// A field that may be absent or null (nil), else read as `required` reads it.
    private func optional<T>(_ section: String, _ key: String, _ want: String, _ value: (JSONValue) -> T?) throws -> T? {
        guard let v = self.section(section)?[key], !v.isNull else { return nil }
        return try required(section, key, want, value)
    }

    public func optionalInts(_ section: String, _ key: String) throws -> [Int]? {
        guard let v = self.section(section)?[key], !v.isNull else { return nil }
        guard let a = v.arrayValue else { throw bad(section, key, "a list of integers") }
        return try a.map { x in
            guard let i = x.intValue else { throw bad(section, key, "a list of integers") }
            return i
        }
    }

    /// The first of several spellings of a field that is present (`num_experts` / `num_local_experts`).
    public func firstInt(_ section: String, _ keys: [String]) throws -> Int? {
        for k in keys { if let v = try optionalInt(section, k) { return v } }
        return nil
    }

    /// The RoPE parameters dictionary: `rope_parameters` (5.x) or `rope_scaling` (4.57).
    public func ropeSection(_ section: String) -> JSONValue? {
        if let p = self.section(section)?["rope_parameters"], p.objectMembers != nil { return p }
        if let s = self.section(section)?["rope_scaling"], s.objectMembers != nil { return s }
        return nil
    }

    func missing(_ section: String, _ key: String) -> BridgeError {
        BridgeError(.config, "config field \(section.isEmpty ? "" : section + ".")\(key) is missing", file: path,
                    hint: "the config.json does not describe a model of this family")
    }

    func bad(_ section: String, _ key: String, _ want: String) -> BridgeError {
        BridgeError(.config, "config field \(section.isEmpty ? "" : section + ".")\(key) must be \(want)", file: path)
    }
}

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
        let bytes = try readWholeFile(p)
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

    public func int(_ section: String, _ key: String) throws -> Int {
        guard let v = self.section(section)?[key] else { throw missing(section, key) }
        guard let i = v.intValue else { throw bad(section, key, "an integer") }
        return i
    }

    public func optionalInt(_ section: String, _ key: String) throws -> Int? {
        guard let v = self.section(section)?[key], !v.isNull else { return nil }
        guard let i = v.intValue else { throw bad(section, key, "an integer") }
        return i
    }

    public func double(_ section: String, _ key: String) throws -> Double {
        guard let v = self.section(section)?[key] else { throw missing(section, key) }
        guard let d = v.doubleValue else { throw bad(section, key, "a number") }
        return d
    }

    public func optionalDouble(_ section: String, _ key: String) throws -> Double? {
        guard let v = self.section(section)?[key], !v.isNull else { return nil }
        guard let d = v.doubleValue else { throw bad(section, key, "a number") }
        return d
    }

    public func optionalBool(_ section: String, _ key: String) throws -> Bool? {
        guard let v = self.section(section)?[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw bad(section, key, "true or false") }
        return b
    }

    public func optionalString(_ section: String, _ key: String) -> String? {
        self.section(section)?[key]?.stringValue
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

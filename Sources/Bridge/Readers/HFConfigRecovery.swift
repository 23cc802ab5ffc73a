import Foundation
import TensorCore
import Yams

/// Finds the HF config of a Megatron checkpoint, in this order:
/// 1. `--hf-config DIR` when given (its tokenizer and processor files are copied too);
/// 2. the `hf_config/` folder `import` stores in every iteration folder (an exact copy of the original);
/// 3. Megatron-Bridge's `run_config.yaml`: the provider class names the family, `hf_text_config` and
///    `vision_config` hold the sub-configs, the token ids and `share_embeddings_and_output_weights` the rest.
/// A Megatron-LM checkpoint with none of these needs `--hf-config`.
public enum HFConfigRecovery {
    public static let embeddedFolder = "hf_config"

    public struct Found {
        public var config: HFConfig
        /// A folder whose tokenizer / processor files should be copied next to the weights.
        public var companionDirectory: String?
        public var origin: String
    }

    public static func find(iterationDirectory: String, explicit: String?, mappings: String) throws -> Found {
        if let found = try locate(iterationDirectory: iterationDirectory, explicit: explicit, mappings: mappings) { return found }
        throw BridgeError(.config, "the checkpoint carries no HF config (no \(embeddedFolder)/ and no run_config.yaml)",
                          file: iterationDirectory, hint: "pass --hf-config DIR pointing at the original Hugging Face folder")
    }

    /// The config when the checkpoint (or `explicit`) has one, nil when there is none to find; a config
    /// that is present but unreadable is an error, never a nil.
    public static func locate(iterationDirectory: String, explicit: String?, mappings: String) throws -> Found? {
        if let explicit {
            return Found(config: try HFConfig(directory: explicit), companionDirectory: explicit, origin: "--hf-config \(explicit)")
        }
        let embedded = FileSystem.join(iterationDirectory, embeddedFolder)
        if FileSystem.isFile(FileSystem.join(embedded, "config.json")) {
            return Found(config: try HFConfig(directory: embedded), companionDirectory: embedded, origin: "embedded \(embeddedFolder)/")
        }
        let run = FileSystem.join(iterationDirectory, "run_config.yaml")
        if FileSystem.isFile(run) {
            return Found(config: try fromRunConfig(path: run, mappings: mappings), companionDirectory: nil, origin: "run_config.yaml")
        }
        return nil
    }

    /// Megatron-Bridge's run_config.yaml as Yams values (size-capped, aliases counted before expansion).
    public static func loadRunConfig(path: String) throws -> Any? {
        if let size = FileSystem.fileSize(path), size > Limits.configFileBytes {
            throw BridgeError(.config, "run_config.yaml is \(size) bytes, more than the limit of \(Limits.configFileBytes)", file: path,
                              hint: "a run_config.yaml is a few KB; pass --hf-config DIR")
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw BridgeError(.config, "cannot read run_config.yaml", file: path, underlying: error)
        }
        let root: Any?
        do {
            // Composing keeps each alias a shared reference to its anchor; the expanded size is counted
            // (and refused past the limit) before anything is expanded into values.
            let node = try Yams.compose(yaml: text)
            if let node { try checkExpandedSize(node, path: path) }
            root = node.map { Constructor.default.any(from: $0) }
        } catch let e as BridgeError {
            throw e
        } catch {
            // Yams describes a parse error over several lines (the context, the problem, then the offending
            // line quoted with a caret): the first two make the one-line summary.
            let lines = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            throw BridgeError(.config, "run_config.yaml is not valid YAML: \(lines.prefix(2).joined(separator: " "))", file: path,
                              hint: "pass --hf-config DIR pointing at the original Hugging Face folder")
        }
        return root
    }

    /// Rebuilds config.json from Megatron-Bridge's run_config.yaml, with the mapping tables in `mappings`.
    public static func fromRunConfig(path: String, mappings: String) throws -> HFConfig {
        try fromRunConfig(path: path, tables: { try MappingTableLoader.loadAll(directory: mappings) })
    }

    /// Rebuilds config.json from run_config.yaml with tables already loaded (the fuzz harness loads them
    /// once instead of once per input). `tables` is called only for a YAML document that names a provider.
    public static func fromRunConfig(path: String, tables loadTables: () throws -> [MappingTable]) throws -> HFConfig {
        let root = try loadRunConfig(path: path)
        guard let model = (root as? [String: Any])?["model"] as? [String: Any], let target = model["_target_"] as? String else {
            throw BridgeError(.config, "run_config.yaml has no model provider", file: path, hint: "pass --hf-config DIR")
        }
        let tables = try loadTables()
        guard let table = tables.first(where: { $0.provider == target }) else {
            throw BridgeError(.config, "no mapping table for provider \(target)", file: path,
                              hint: "known providers: \(tables.map(\.provider).joined(separator: ", "))")
        }
        // Megatron-Bridge 0.3 records sub-configs as `from_dict` calls with a `config_dict`; 0.6 as the
        // config object itself (`_target_` plus its fields).
        func dict(_ key: String) -> JSONValue? {
            guard let m = model[key] as? [String: Any] else { return nil }
            if let d = m["config_dict"] { return json(d) }
            return json(m.filter { !$0.key.hasPrefix("_") })
        }
        var members: [(String, JSONValue)] = [("architectures", .array(table.architectures.prefix(1).map { .string($0) }))]
        if let vs = table.visionSection {
            guard let text = dict("hf_text_config"), let vision = dict("vision_config") else {
                throw BridgeError(.config, "run_config.yaml lacks hf_text_config or vision_config", file: path, hint: "pass --hf-config DIR")
            }
            members.append((table.textSection, text))
            members.append((vs, vision))
            for k in ["image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"] {
                if let v = model[k] { members.append((k, json(v))) }
            }
        } else {
            guard case let .object(text)? = dict("hf_config") ?? dict("hf_text_config") else {
                throw BridgeError(.config, "run_config.yaml lacks the HF config", file: path, hint: "pass --hf-config DIR")
            }
            members += text.filter { $0.0 != "architectures" }
        }
        if let share = model["share_embeddings_and_output_weights"] as? Bool { members.append(("tie_word_embeddings", .bool(share))) }
        let modelType = (members.first { $0.0 == table.textSection }?.1["model_type"]?.stringValue)?
            .replacingOccurrences(of: "_text", with: "")
        if let modelType, table.visionSection != nil { members.append(("model_type", .string(modelType))) }
        return try HFConfig(json: .object(members), path: path)
    }

    /// Refuses a YAML document whose aliases expand to more than `Limits.yamlExpandedNodes` nodes (a
    /// "billion laughs" document), counting without expanding and stopping at the limit, and one with a
    /// sequence or mapping as a mapping key (Yams' constructor traps on those; found by fuzzing).
    static func checkExpandedSize(_ root: Node, path: String) throws {
        var count = 0
        var stack = [root]
        while let n = stack.popLast() {
            count += 1
            guard count <= Limits.yamlExpandedNodes else {
                throw BridgeError(.config, "run_config.yaml expands to more than \(Limits.yamlExpandedNodes) nodes (aliases nested too deep)",
                                  file: path, hint: "a run_config.yaml has a few hundred nodes; pass --hf-config DIR")
            }
            switch n {
            case .scalar: break
            case let .sequence(seq): stack.append(contentsOf: seq)
            case let .mapping(map):
                for (k, v) in map {
                    guard case .scalar = k else {
                        throw BridgeError(.config, "run_config.yaml has a \(k.mapping != nil ? "mapping" : "sequence") as a mapping key at line \((k.mark?.line).map(String.init) ?? "?")",
                                          file: path, hint: "keys of a run_config.yaml are plain names; pass --hf-config DIR")
                    }
                    stack.append(k)
                    stack.append(v)
                }
            }
        }
    }

    /// A YAML value (as Yams loads it) as JSON.
    static func json(_ v: Any) -> JSONValue {
        switch v {
        case is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(i)
        case let d as Double: return .number(d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)")
        case let s as String: return .string(s)
        case let a as [Any]: return .array(a.map(json))
        case let m as [String: Any]:
            // A torch dtype recorded as an uncalled target (`{_call_: false, _target_: torch.float32}`).
            if let t = m["_target_"] as? String, t.hasPrefix("torch."), (m["_call_"] as? Bool) == false {
                return .string(String(t.dropFirst(6)))
            }
            return .object(m.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) })
        case let m as [AnyHashable: Any]: return .object(m.map { ("\($0.key)", json($0.value)) }.sorted { $0.0 < $1.0 })
        default: return .null
        }
    }
}

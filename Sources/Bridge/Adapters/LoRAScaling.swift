import TensorCore

/// The LoRA hyper-parameters that export needs: the rank `r` (from the tensors) and `alpha`; the merge
/// adds `(alpha / r) · B·A`.
public struct LoRAScaling: Equatable {
    public var rank: Int
    public var alpha: Double
    /// Where alpha came from, for the report.
    public var alphaOrigin: String

    public var scale: Double { alpha / Double(rank) }

    /// What run_config.yaml's `peft` section says (Megatron-Bridge writes it for PEFT runs): nil when there
    /// is no such file or section.
    public struct Recorded: Equatable {
        public var target: String
        public var dim: Int?
        public var alpha: Double?
    }

    /// Reads the `peft` section of `<iteration>/run_config.yaml`.
    public static func recorded(iterationDirectory: String) throws -> Recorded? {
        let path = FileSystem.join(iterationDirectory, "run_config.yaml")
        guard FileSystem.isFile(path) else { return nil }
        guard let root = try HFConfigRecovery.loadRunConfig(path: path) as? [String: Any],
              let peft = root["peft"] as? [String: Any] else { return nil }
        let target = peft["_target_"] as? String ?? ""
        // Megatron-Bridge's LoRA and VLMLoRA (its subclass) are plain LoRA; CanonicalLoRA splits q/k/v
        // into separate adapters and DoRA adds a magnitude vector: other math, refused rather than guessed.
        guard target.hasSuffix(".lora.LoRA") || target.hasSuffix(".lora.VLMLoRA") else {
            throw BridgeError(.config, "run_config.yaml's peft is \(target.isEmpty ? "of no known kind" : target), not LoRA", file: path, key: "peft._target_",
                              hint: "only megatron.bridge.peft.lora.LoRA adapters are supported")
        }
        func number(_ k: String) -> Double? {
            if let i = peft[k] as? Int { return Double(i) }
            return peft[k] as? Double
        }
        return Recorded(target: target, dim: (peft["dim"] as? Int), alpha: number("alpha"))
    }

    /// Resolves alpha: `--lora-alpha` first, else the recorded alpha; a recorded `alpha: null` means
    /// alpha = dim (ParallelLinearAdapter's default). The recorded dim must equal the tensors' rank.
    public static func resolve(rank: Int, recorded: Recorded?, override: Double?, path: String) throws -> LoRAScaling {
        if let d = recorded?.dim, d != rank {
            throw BridgeError(.shape, "run_config.yaml says LoRA dim \(d) but the adapter tensors have rank \(rank)", file: path, key: "peft.dim",
                              hint: "the run_config.yaml belongs to another run")
        }
        if let a = override {
            guard a.isFinite, a > 0 else {
                throw BridgeError(.request, "--lora-alpha must be a positive number", hint: "e.g. --lora-alpha 32")
            }
            return LoRAScaling(rank: rank, alpha: a, alphaOrigin: "--lora-alpha")
        }
        guard let rec = recorded else {
            throw BridgeError(.config, "the checkpoint does not record LoRA alpha (no peft section in run_config.yaml)", file: path,
                              hint: "pass --lora-alpha N (Megatron-Bridge's default is 32)")
        }
        return LoRAScaling(rank: rank, alpha: rec.alpha ?? Double(rank), alphaOrigin: rec.alpha == nil ? "dim (alpha: null)" : "run_config.yaml")
    }
}

import TensorCore
import TorchFormats

/// A Megatron checkpoint resolved once: its format and iteration folder, the HF config that describes it
/// (and where that came from), and the family's mapping table. Every command that reads a Megatron
/// checkpoint (export, plan export, forward, verify, inspect and diff of legacy folders) opens it here, so
/// detection runs once and a failure reads the same whichever command met it.
public struct MegatronCheckpoint {
    /// The checkpoint in its own format (torch_dist or legacy).
    public let source: MegatronSource
    /// The HF config and its origin (`--hf-config`, the embedded `hf_config/`, or `run_config.yaml`).
    public let found: HFConfigRecovery.Found
    /// The family's mapping table, chosen by the config's architecture.
    public let table: MappingTable

    /// Opens `path` (a checkpoint root or one iteration folder) and resolves its config and table.
    /// - Parameter hfConfig: a folder whose config.json to use instead of the one the checkpoint carries.
    public static func open(_ path: String, hfConfig: String? = nil,
                            mappings: String = MappingTableLoader.defaultDirectory()) throws -> MegatronCheckpoint {
        try MegatronCheckpoint(source: try MegatronSource.open(path), hfConfig: hfConfig, mappings: mappings)
    }

    /// Resolves the config and table of an already opened checkpoint.
    public init(source: MegatronSource, hfConfig: String? = nil, mappings: String = MappingTableLoader.defaultDirectory()) throws {
        guard let found = try HFConfigRecovery.locate(iterationDirectory: source.iterationDirectory, explicit: hfConfig, mappings: mappings) else {
            // A Megatron-LM save: its args say which model to look for.
            let described = try MegatronArgsCheck.args(of: source).map { a in
                ["num_layers", "hidden_size", "num_attention_heads", "num_query_groups", "ffn_hidden_size", "num_experts"]
                    .compactMap { f in a[f]?.intValue.map { "\(f)=\($0)" } }.joined(separator: " ")
            }
            throw BridgeError(.config, "the checkpoint carries no HF config (no \(HFConfigRecovery.embeddedFolder)/ and no run_config.yaml)" +
                              (described.map { $0.isEmpty ? "" : "; its Megatron-LM args describe \($0)" } ?? ""),
                              file: source.iterationDirectory, hint: "pass --hf-config DIR pointing at the original Hugging Face folder")
        }
        try self.init(source: source, found: found, mappings: mappings)
    }

    /// An opened checkpoint with a config already found.
    public init(source: MegatronSource, found: HFConfigRecovery.Found, mappings: String = MappingTableLoader.defaultDirectory()) throws {
        self.source = source
        self.found = found
        table = try MappingTableLoader.table(for: found.config, directory: mappings)
        // A config the user supplied is checked against the model the checkpoint's own args describe.
        if found.origin.hasPrefix("--hf-config"), let args = try MegatronArgsCheck.args(of: source) {
            try MegatronArgsCheck.check(args, against: found.config, table: table, file: source.iterationDirectory)
        }
    }

    public var hfConfig: HFConfig { found.config }
    public var iterationDirectory: String { source.iterationDirectory }
    public var format: CheckpointFormat { source.format }

    /// Reads Megatron parameters (what `export` plans from).
    /// - Parameter weights: `.mainParams` reads trained parameters from the optimizer's fp32 master
    ///   copies (`MainParamsStore`; torch_dist only).
    public func parameterReader(weights: WeightsChoice = .model) throws -> MegatronParameterReader {
        switch weights {
        case .model: return try source.reader(hfConfig: hfConfig, table: table)
        case .mainParams: return StorageTensorReader(store: try mainParams(), path: iterationDirectory)
        }
    }

    /// The checkpoint with its trained parameters read from the optimizer's fp32 master copies.
    public func mainParams() throws -> MainParamsStore {
        guard case let .torchDist(c) = source else {
            if case .fsdpDTensor = source {
                throw BridgeError(.request, "--weights main-params reads torch_dist training checkpoints; an fsdp_dtensor save's model weights already are Megatron-FSDP's fp32 main parameters",
                                  file: iterationDirectory, hint: "export them with --weights model (the default)")
            }
            throw BridgeError(.request, "--weights main-params reads torch_dist training checkpoints; this one is legacy (mp_rank_*)", file: iterationDirectory,
                              hint: "convert it to torch_dist with Megatron-LM first, or export the model weights (--weights model)")
        }
        return try MainParamsStore(c)
    }

    /// The checkpoint as global tensors under torch_dist storage keys (legacy ranks reassembled), what the
    /// forward pass and `diff` read.
    public func storageView() throws -> TensorStore {
        switch source {
        case let .torchDist(c): return TorchDistStore(c)
        case let .legacy(c): return try LegacyStorageStore(checkpoint: c, hfConfig: hfConfig, table: table)
        case let .fsdpDTensor(s): return s
        }
    }
}

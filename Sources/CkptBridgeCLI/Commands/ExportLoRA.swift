import ArgumentParser
import Bridge
import Foundation
import TensorCore

/// The LoRA side of `export`: finding adapters, refusing them when no flag says what to do with them,
/// merging them (`--merge-adapter`, optionally onto `--base`) or writing them alone (`--adapter-only`).
extension ExportArguments {
    func validate() throws {
        if adapterOnly && mergeAdapter { throw ValidationError("--adapter-only and --merge-adapter exclude each other") }
        if loraAlpha != nil && !adapterOnly && !mergeAdapter { throw ValidationError("--lora-alpha needs --adapter-only or --merge-adapter") }
        if base != nil && !mergeAdapter { throw ValidationError("--base needs --merge-adapter") }
        if adapterOnly && weights == .mainParams { throw ValidationError("--adapter-only writes adapter weights; --weights main-params does not apply") }
    }

    /// The LoRA adapters of a torch_dist checkpoint (empty for legacy ones, which Megatron-Bridge PEFT does not write).
    func adapters(_ source: MegatronSource) throws -> LoRAAdapterSet? {
        guard case let .torchDist(c) = source else {
            if adapterOnly || mergeAdapter {
                throw BridgeError(.request, "LoRA adapters are read from torch_dist checkpoints only", file: source.iterationDirectory,
                                  hint: "Megatron-Bridge PEFT saves torch_dist")
            }
            return nil
        }
        let set = try LoRAAdapterSet(store: TorchDistStore(c), path: c.directory)
        return set.isEmpty ? nil : set
    }

    /// `--adapter-only`: the PEFT adapter and its adapter_config.json.
    func adapterPlan() throws -> (LoRAAdapterExport, JSONValue) {
        let source = try MegatronSource.open(try iteration.resolve(megatronDir))
        guard let set = try adapters(source) else {
            throw BridgeError(.missingKeys, "--adapter-only: the checkpoint holds no LoRA adapter weights", file: source.iterationDirectory,
                              hint: "expected Megatron-Bridge LoRA keys '<module>.adapter.linear_in.weight' / 'linear_out.weight'")
        }
        let found = try HFConfigRecovery.find(iterationDirectory: source.iterationDirectory, explicit: hfConfig,
                                              mappings: MappingTableLoader.defaultDirectory())
        guard let arch = found.config.architectures.first else {
            throw BridgeError(.config, "config has no 'architectures'", file: found.config.path)
        }
        let table = try MappingTableLoader.table(forArchitecture: arch)
        let parameters = try LoRAAdapterExport.parameters(source: source, adapters: set, hfConfig: found.config, table: table,
                                                          expertLayout: expertLayout)
        let export = try LoRAAdapterExport(parameters: parameters, adapters: set, dtype: dtype.dtype)
        let scaling = try LoRAScaling.resolve(rank: export.rank, recorded: try LoRAScaling.recorded(iterationDirectory: source.iterationDirectory),
                                              override: loraAlpha, path: source.iterationDirectory)
        let all = parameters.flatMap { $0.hfNames.values }.filter { $0.hasSuffix(".weight") }.map { String($0.dropLast(".weight".count)) }
        let targets = LoRAAdapterExport.targetModules(export.modules, allHFModules: all)
        return (export, LoRAAdapterExport.config(rank: export.rank, alpha: scaling.alpha, targetModules: targets, baseModel: nil))
    }

    /// The reader `export` takes weights from: `reader` itself, or with the adapters of `adapters` merged in.
    /// Without --merge-adapter or --adapter-only a checkpoint with adapters is refused (fail closed).
    func loraReader(_ reader: MegatronParameterReader, weights: MegatronSource, adapters named: MegatronSource) throws -> MegatronParameterReader {
        let set = try adapters(named)
        if base != nil {
            guard let set else {
                throw BridgeError(.missingKeys, "--merge-adapter: the checkpoint holds no LoRA adapter weights", file: named.iterationDirectory,
                                  hint: "MEGATRON_DIR is the PEFT checkpoint, --base the checkpoint it was trained from")
            }
            if let other = set.store.tensorNames.first(where: { !LoRAAdapterSet.isAdapterKey($0) }) {
                throw BridgeError(.request, "--base: the adapter checkpoint holds base weights too", file: named.iterationDirectory, key: other,
                                  hint: "drop --base to merge the adapters into the checkpoint's own weights")
            }
            if let own = try adapters(weights) {
                throw BridgeError(.request, "--base: the base checkpoint holds LoRA adapters itself", file: weights.iterationDirectory, key: own.keys[0],
                                  hint: "pass a checkpoint without adapters as --base")
            }
        }
        guard let set else {
            if mergeAdapter {
                throw BridgeError(.missingKeys, "--merge-adapter: the checkpoint holds no LoRA adapter weights", file: named.iterationDirectory,
                                  hint: "drop --merge-adapter to export the weights as they are")
            }
            return reader
        }
        if mergeAdapter {
            return LoRAMergingReader(inner: reader, adapters: set, recorded: try LoRAScaling.recorded(iterationDirectory: named.iterationDirectory),
                                     alphaOverride: loraAlpha)
        }
        if !set.keys.allSatisfy(KeyFilter(allowUnused).allows) {
            throw BridgeError(.unusedKeys, "the checkpoint holds \(set.keys.count) LoRA adapter tensor(s) (\(set.modules.count) adapted weights)",
                              file: named.iterationDirectory, key: set.keys[0],
                              hint: "pass --merge-adapter for merged full weights, or --adapter-only for a PEFT adapter; --allow-unused PATTERN (matching every adapter key) exports the base weights alone")
        }
        return reader
    }
}

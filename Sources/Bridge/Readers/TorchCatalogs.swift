import TensorCore
import TorchFormats

extension TensorCatalog {
    /// torch_dist (global tensors), legacy (each rank's local tensors, as `mp_rank_XX/name`) and single
    /// torch.save files (their tensors by dotted path).
    static func openTorchFormat(_ path: String, format: CheckpointFormat) throws -> TensorCatalog {
        switch format {
        case .torchDist:
            let ckpt = try TorchDistCheckpoint(path: path, asMegatron: true)
            let store = TorchDistStore(ckpt)
            var entries = [Entry]()
            for k in ckpt.tensorKeys {
                let chunks = try ckpt.chunks(of: k)
                let files = Set(chunks.map(\.file))
                entries.append(Entry(name: k, source: try store.tensorSource(k),
                                     location: files.count == 1 && chunks.count == 1 ? files.first! : "\(chunks.count) chunks in \(files.count) files"))
            }
            var notes: [(String, String)] = [("folder", ckpt.directory), ("iteration", ckpt.iteration?.description ?? "?"),
                                             ("byte items", "\(ckpt.byteKeys.count) (_extra_state, common state, …)")]
            if let m = ckpt.metadataJSON { notes.append(("metadata.json", JSONWriter.write(m, pretty: false))) }
            let common = FileSystem.isFile(FileSystem.join(ckpt.directory, TorchDistCheckpoint.commonFileName)) ? "common.pt"
                : ckpt.byteKeys.contains(TorchDistCheckpoint.commonStateKey) ? TorchDistCheckpoint.commonStateKey : "none"
            notes.append(("common state", common))
            // Megatron-LM's args: the only record of the model in a checkpoint without hf_config/ or run_config.yaml.
            if let args = try ckpt.commonState?["args"], !args.isNone {
                let fields = ["num_layers", "hidden_size", "num_attention_heads", "num_query_groups", "ffn_hidden_size", "num_experts",
                              "tensor_model_parallel_size", "pipeline_model_parallel_size", "iteration"]
                notes.append(("args", fields.compactMap { f in args[f]?.intValue.map { "\(f)=\($0)" } }.joined(separator: " ")))
            }
            // Training state (optimizer, RNG, rerun, scheduler, FLOPs) by kind, tensors and byte items together.
            var kinds = [TrainingStateKind: Int]()
            for k in ckpt.tensorKeys + ckpt.byteKeys { if let kind = TrainingStateKind.classify(k) { kinds[kind, default: 0] += 1 } }
            // The scheduler, the FLOP counter and the optimizer's param_groups live in the common state.
            if case let .dict(items)? = try ckpt.commonState {
                for (k, _) in items { if case let .string(name) = k, let kind = TrainingStateKind.classify(name) { kinds[kind, default: 0] += 1 } }
            }
            if let sharding = try ckpt.commonState?["content_metadata"]?["distrib_optim_sharding_type"]?.stringValue, kinds[.optimizer] != nil {
                notes.append(("optimizer sharding", sharding + " (content_metadata)"))
            }
            if !kinds.isEmpty {
                notes.append(("training state", TrainingStateKind.allCases.compactMap { k in kinds[k].map { "\(k.rawValue): \($0) key(s)" } }.joined(separator: ", ")))
            }
            return TensorCatalog(path: path, format: format, entries: entries, notes: notes)
        case .fsdpDTensor:
            // Shown (and compared by diff) as the torch_dist tensors it forms, so it diffs against torch_dist saves.
            let store = try FSDPDTensorStore(try TorchDistCheckpoint(path: path))
            let ckpt = store.checkpoint
            let entries = try store.tensorNames.map { Entry(name: $0, source: try store.tensorSource($0), location: "fsdp_dtensor pieces") }
            var notes: [(String, String)] = [("folder", ckpt.directory), ("iteration", ckpt.iteration?.description ?? "?"),
                                             ("view", "\(store.pieceCount) fsdp_dtensor model tensors as \(store.tensorNames.count) torch_dist tensors "
                                                + "(layers and experts stacked, SwiGLU _w/_v joined)"),
                                             ("byte items", ckpt.byteKeys.joined(separator: " "))]
            if !store.trainingStateKeys.isEmpty { notes.append(("training state", "\(store.trainingStateKeys.count) tensor(s), not read as weights")) }
            if !store.skippedKeys.isEmpty { notes.append(("skipped", "\(store.skippedKeys.count) _extra_state tensor(s)")) }
            // Megatron-LM saves its args as the DCP item `args`: the only record of the model without a config.
            if let args = try MegatronArgsCheck.args(of: .fsdpDTensor(store)) {
                let fields = ["num_layers", "hidden_size", "num_attention_heads", "num_query_groups", "ffn_hidden_size", "num_experts"]
                notes.append(("args", fields.compactMap { f in args[f]?.intValue.map { "\(f)=\($0)" } }.joined(separator: " ")))
            }
            return TensorCatalog(path: path, format: format, entries: entries, notes: notes)
        case .legacy:
            let ckpt = try LegacyMegatronCheckpoint(path: path)
            // With the HF config the checkpoint carries, show (and compare) global tensors under their
            // torch_dist keys; without one, each rank's local tensors. A config that is there but does not
            // reassemble the ranks is an error, not a reason to show another view.
            if let found = try HFConfigRecovery.locate(iterationDirectory: ckpt.directory, explicit: nil,
                                                        mappings: MappingTableLoader.defaultDirectory()) {
                let checkpoint = try MegatronCheckpoint(source: .legacy(ckpt), found: found)
                let store = try checkpoint.storageView(), dir = checkpoint.iterationDirectory
                let entries = try store.tensorNames.map { Entry(name: $0, source: try store.tensorSource($0), location: "\(ckpt.ranks.count) rank files") }
                return TensorCatalog(path: path, format: format, entries: entries,
                                     notes: [("folder", dir), ("iteration", ckpt.iteration?.description ?? "?"),
                                             ("ranks", ckpt.ranks.map { $0.folderName(pipelineParallel: ckpt.pipelineParallel, expertParallel: ckpt.expertParallel) }.joined(separator: " ")),
                                             ("view", "global tensors reassembled from the ranks")])
            }
            var entries = [Entry]()
            for r in ckpt.ranks {
                let file = try ckpt.file(r)
                let folder = FileSystem.basename(FileSystem.dirname(file.path))
                for key in file.modelKeys {
                    let dict = try file.model(key)
                    for name in dict.order {
                        guard let t = dict.tensors[name] else { continue }
                        let prefix = key == "model" ? folder : "\(folder)/\(key)"
                        entries.append(Entry(name: "\(prefix)/\(name)", source: t, location: "\(folder)/\(LegacyRank.fileName)"))
                    }
                }
            }
            return TensorCatalog(path: path, format: format, entries: entries,
                                 notes: [("folder", ckpt.directory), ("iteration", ckpt.iteration?.description ?? "?"),
                                         ("ranks", "\(ckpt.ranks.count)"), ("view", "local tensors per rank (no HF config found to reassemble them)")])
        case .torchSave:
            let file = try TorchSaveFile(path: path)
            let dict = try file.stateDict()
            return TensorCatalog(path: path, format: format,
                                 entries: dict.order.compactMap { n in dict.tensors[n].map { Entry(name: n, source: $0, location: FileSystem.basename(path)) } },
                                 notes: [("archive", file.archiveName)])
        case .safetensors:
            return try open(path, as: format)
        }
    }
}

import TensorCore
import TorchFormats

/// Megatron-LM's saved `args` (the `argparse.Namespace` in `common.pt`, in megatron-core ≥ 0.19's DCP
/// `common_state` item, or in legacy rank files) checked against the HF config a user supplies with
/// `--hf-config`: a Megatron-LM checkpoint carries no `hf_config/` nor `run_config.yaml`, so its args are
/// the only record of the model it holds. The fields are the ones Megatron-LM's `check_checkpoint_args`
/// and `--use-checkpoint-args` read; a mismatch would plan every tensor against the wrong shapes.
public enum MegatronArgsCheck {
    /// The args of an opened checkpoint's common state (torch_dist) or first rank file (legacy), nil
    /// when it saved none.
    public static func args(of source: MegatronSource) throws -> PickleValue? {
        let a: PickleValue?
        switch source {
        case let .torchDist(c): a = try c.commonState?["args"]
        case let .legacy(c): a = try c.ranks.first.map { try c.file($0).args } ?? nil
        // Megatron-LM saves `args` as a DCP byte item of the fsdp_dtensor save (a torch.save of the Namespace).
        case let .fsdpDTensor(s): a = s.checkpoint.byteKeys.contains("args") ? try s.checkpoint.bytesItem("args") : nil
        }
        return a?.isNone == true ? nil : a
    }

    /// (args field, HF field it corresponds to, value the config implies) for the language model.
    public static func expected(_ c: HFConfig, table: MappingTable) throws -> [(String, String, Int)] {
        let l = try ProviderBuilder.language(c, section: table.textSection)
        var f: [(String, String, Int)] = [
            ("num_layers", "num_hidden_layers", l.numLayers),
            ("hidden_size", "hidden_size", l.hiddenSize),
            ("num_attention_heads", "num_attention_heads", l.numAttentionHeads),
            ("kv_channels", "head_dim", l.kvChannels),
            ("ffn_hidden_size", "intermediate_size", l.ffnHiddenSize),
        ]
        if let e = l.numMoeExperts { f.append(("num_experts", "num_experts", e)) }
        if let m = l.moeFfnHiddenSize { f.append(("moe_ffn_hidden_size", "moe_intermediate_size", m)) }
        return f
    }

    /// Throws when a field the args record disagrees with the config; fields the args leave out (or
    /// record as None) are not compared. `num_query_groups` counts only with `group_query_attention`,
    /// as in Megatron-LM (without it every head is its own group).
    public static func check(_ args: PickleValue, against c: HFConfig, table: MappingTable, file: String) throws {
        var fields = try expected(c, table: table)
        let l = try ProviderBuilder.language(c, section: table.textSection)
        if args["group_query_attention"]?.boolValue == true {
            fields.append(("num_query_groups", "num_key_value_heads", l.numQueryGroups))
        } else if args["group_query_attention"]?.boolValue == false {
            fields.append(("num_attention_heads", "num_key_value_heads", l.numQueryGroups))
        }
        for (arg, hf, want) in fields {
            guard let v = args[arg], !v.isNone else { continue }
            guard let got = v.intValue else {
                throw BridgeError(.config, "the checkpoint's args.\(arg) is a \(v.kindDescription), not an integer", file: file, key: "args.\(arg)")
            }
            guard got == want else {
                throw BridgeError(.config, "the checkpoint's args say \(arg)=\(got) but the HF config's \(table.textSection.isEmpty ? "" : table.textSection + ".")\(hf) makes it \(want)",
                                  file: file, key: "args.\(arg)", hint: "--hf-config must be the Hugging Face folder of the model this checkpoint holds")
            }
        }
    }
}

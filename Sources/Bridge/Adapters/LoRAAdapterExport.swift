import SafeTensors
import TensorCore

/// A Hugging Face PEFT adapter made from Megatron-Bridge LoRA weights: for each HF linear that a Megatron
/// linear is made of, `base_model.model.<module>.lora_A.weight` (`[r, in]`) and `lora_B.weight`
/// (`[out, r]`). A fused Megatron linear (QKV interleaved per query group, fc1 as gate then up) has one
/// adapter whose A is shared and whose B rows follow the fused rows, so each HF module gets A whole and
/// the rows of B that the base weight's own correspondences give it: the split is the base transform's,
/// read along B's `r` columns instead of the weight's input columns. Pure region copies: bit-exact.
public struct LoRAAdapterExport {
    public var items: [SafeTensorsWriter.Item]
    /// HF module names (without `.weight`) that carry an adapter.
    public var modules: [String]
    public var rank: Int

    public static let prefix = "base_model.model."

    public init(parameters: [MegatronParameter], adapters: LoRAAdapterSet, dtype: DType?) throws {
        var items = [SafeTensorsWriter.Item](), modules = [String]()
        for p in parameters {
            guard let (a, b) = try adapters.tensors(for: p) else { continue }
            let r = a.shape[0]
            for role in p.hfNames.keys.sorted() {
                let name = p.hfNames[role]!
                guard name.hasSuffix(".weight"), let hfShape = p.hfShapes[role], hfShape.count == 2, hfShape[1] == p.shape[1] else {
                    throw BridgeError(.mappingTable, "cannot split the LoRA adapter of '\(p.name)' onto HF tensor '\(name)'",
                                      key: adapters.modules[p.storage.key]?.inKey, hint: "adapters on this kind of parameter are not supported yet")
                }
                var parts = [ComposedTensor.Part]()
                for c in p.correspondences where c.role == role {
                    // Only whole-row correspondences (copy, QKV, gate/up) carry over to B's rows.
                    guard c.axisMap.count == 2, c.axisMap[0] == 0, c.axisMap[1] == 1, c.megatronBox.offsets[1] == 0,
                          c.megatronBox.sizes[1] == p.shape[1], c.hfOrigin[1] == 0 else {
                        throw BridgeError(.mappingTable, "the transform of '\(p.name)' does not move whole rows; its LoRA B cannot be split",
                                          key: adapters.modules[p.storage.key]?.outKey, hint: "adapters on this kind of parameter are not supported yet")
                    }
                    parts.append(ComposedTensor.Part(box: Box(offsets: [c.hfOrigin[0], 0], sizes: [c.megatronBox.sizes[0], r]), source: b,
                                                     sourceOrigin: [c.megatronBox.offsets[0], 0], axisMap: [0, 1]))
                }
                let module = String(name.dropLast(".weight".count))
                let bHF = ComposedTensor(dtype: b.dtype, shape: [hfShape[0], r], parts: parts)
                try bHF.validate(name: module + ".lora_B.weight")
                items.append(SafeTensorsWriter.Item(name: Self.prefix + module + ".lora_A.weight", dtype: dtype, source: a))
                items.append(SafeTensorsWriter.Item(name: Self.prefix + module + ".lora_B.weight", dtype: dtype, source: bHF))
                modules.append(module)
            }
        }
        try adapters.checkAllUsed()
        guard let r = adapters.rank else {
            throw BridgeError(.missingKeys, "the checkpoint holds no LoRA adapter weights", file: adapters.path,
                              hint: "--adapter-only needs a Megatron-Bridge LoRA checkpoint (keys '*.adapter.linear_in.weight')")
        }
        self.items = items
        self.modules = modules.sorted(by: naturalLess)
        rank = r
    }

    /// The Megatron parameters of the model the adapters sit on. A PEFT training checkpoint holds the
    /// adapters alone; the language model's parameters (where they sit) do not depend on the vision layout,
    /// so without base weights the table's first vision layout is taken.
    public static func parameters(source: MegatronSource, adapters: LoRAAdapterSet, hfConfig: HFConfig, table: MappingTable,
                                  expertLayout: ExpertLayoutChoice) throws -> [MegatronParameter] {
        let context: ModelContext
        if adapters.store.tensorNames.contains(where: { !LoRAAdapterSet.isAdapterKey($0) }) {
            context = try ModelContext.reading(try source.reader(hfConfig: hfConfig, table: table), table: table, hfConfig: hfConfig,
                                               expertLayout: expertLayout.layout)
        } else {
            context = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: table.visionLayouts.first,
                                       expertLayout: expertLayout.layout)
        }
        return try ParameterBuilder.parameters(context)
    }

    /// `target_modules` for adapter_config.json: the short names (`q_proj`, ...) when every HF linear of
    /// that name carries an adapter, else the full module names (PEFT matches a name by suffix, so short
    /// names would also wrap the modules the fine-tune left alone).
    public static func targetModules(_ modules: [String], allHFModules: [String]) -> [String] {
        func short(_ m: String) -> String { String(m.split(separator: ".").last ?? Substring(m)) }
        let adapted = Set(modules)
        let shorts = Set(modules.map(short))
        let complete = shorts.allSatisfy { s in allHFModules.filter { short($0) == s }.allSatisfy(adapted.contains) }
        return complete ? shorts.sorted() : modules
    }

    /// adapter_config.json as PEFT writes it for a LoRA adapter.
    public static func config(rank: Int, alpha: Double, targetModules: [String], baseModel: String?) -> JSONValue {
        let alphaJSON: JSONValue = alpha == alpha.rounded() && abs(alpha) < 1e15 ? .number(String(Int(alpha))) : .number(String(alpha))
        return .object([
            ("peft_type", .string("LORA")),
            ("task_type", .null),
            ("base_model_name_or_path", baseModel.map { .string($0) } ?? .null),
            ("r", .number(String(rank))),
            ("lora_alpha", alphaJSON),
            ("lora_dropout", .number("0.0")),
            ("target_modules", .array(targetModules.map { .string($0) })),
            ("bias", .string("none")),
            ("fan_in_fan_out", .bool(false)),
            ("use_rslora", .bool(false)),
            ("use_dora", .bool(false)),
            ("init_lora_weights", .bool(true)),
            ("inference_mode", .bool(true)),
            ("modules_to_save", .null),
        ])
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into a new folder (atomically).
    public func write(to path: String, config: JSONValue, overwrite: Bool, executor: WriteExecutor) throws {
        let out = try AtomicOutputDirectory(finalPath: path, overwrite: overwrite)
        var shards = try SafeTensorsWriter.plan(items, maxShardSize: Int.max)
        shards[0].fileName = "adapter_model.safetensors"
        try SafeTensorsWriter.write(shards, into: out.tempPath, executor: executor)
        try writeWholeFile(out.path("adapter_config.json"), Array((JSONWriter.write(config) + "\n").utf8))
        try out.commit()
    }
}

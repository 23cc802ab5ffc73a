import Foundation
import SafeTensors
import Bridge
import TensorCore

/// A synthetic Hugging Face checkpoint: the real config and tensor shapes of a Qwen3-VL model, fewer text
/// layers, and seeded random weights. For benchmarks and tests that need real sizes without downloading.
///
/// The tensor list is derived, not written down: the preset's config goes through the family's mapping
/// table (`ParameterBuilder` over a `ModelContext` with hub-layout fused experts), and the HF side of every
/// Megatron parameter is collected. So the checkpoint has exactly the names and shapes the converter
/// expects to import, and the Hub layout (`mlp.experts.gate_up_proj [E, H, 2I]`, `down_proj [E, I, H]`).
///
/// Planning reads no data; `write` streams the values through `SafeTensorsWriter` (bounded slabs, several
/// threads), generating each slab as it is written.
public struct SyntheticCheckpoint {
    public struct Options: Sendable {
        public var preset: SynthPreset
        /// Text decoder layers (the real model's count is `preset.realLayers`).
        public var layers: Int
        /// F32, BF16 (the Hub's dtype) or F16.
        public var dtype: DType
        public var seed: UInt64
        public var maxShardSize: Int

        public init(preset: SynthPreset, layers: Int, dtype: DType = .bf16, seed: UInt64 = 0,
                    maxShardSize: Int = SafeTensorsWriter.defaultMaxShardSize) {
            self.preset = preset
            self.layers = layers
            self.dtype = dtype
            self.seed = seed
            self.maxShardSize = maxShardSize
        }
    }

    /// One tensor of the planned checkpoint.
    public struct PlannedTensor: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var dtype: DType
        public var byteCount: Int { Shape.byteCount(shape, dtype) ?? 0 }
    }

    /// What `write` produced.
    public struct Summary: Sendable {
        public var path: String
        public var tensors: Int
        public var shards: Int
        public var tensorBytes: Int
        public var seconds: Double
    }

    public let options: Options
    /// The config.json to write.
    public let config: JSONValue
    /// Every HF tensor, in natural name order.
    public let tensors: [PlannedTensor]

    /// Plans the checkpoint (names, shapes, config) without generating any data.
    /// - Parameter mappings: the folder of mapping tables.
    public init(options: Options, mappings: String = MappingTableLoader.defaultDirectory()) throws {
        guard options.layers >= 1 else {
            throw BridgeError(.request, "--layers must be at least 1 (got \(options.layers))")
        }
        guard options.dtype == .bf16 || options.dtype == .f32 || options.dtype == .f16 else {
            throw BridgeError(.request, "synthetic weights can be bf16, fp32 or fp16, not \(options.dtype)")
        }
        guard options.maxShardSize > 0 else {
            throw BridgeError(.request, "the shard size must be positive")
        }
        self.options = options
        config = options.preset.config(layers: options.layers, dtype: options.dtype)
        tensors = try Self.hfTensors(config: config, architecture: options.preset.architecture, mappings: mappings)
            .map { PlannedTensor(name: $0.name, shape: $0.shape, dtype: options.dtype) }
    }

    /// The HF tensors (name, shape) the mapping table implies for a config, with hub-layout fused experts,
    /// in natural name order. Fused expert tensors feed one Megatron parameter per expert; each name is
    /// listed once.
    public static func hfTensors(config: JSONValue, architecture: String,
                                 mappings: String = MappingTableLoader.defaultDirectory()) throws -> [(name: String, shape: [Int])] {
        let table = try MappingTableLoader.table(forArchitecture: architecture, directory: mappings)
        let hf = try HFConfig(json: config, path: "config.json (synthetic)")
        let context = try ModelContext(table: table, hfConfig: hf, visionLayout: table.visionLayouts.first,
                                       expertLayout: .fused(.hub))
        var shapes = [String: [Int]]()
        for p in try ParameterBuilder.parameters(context) {
            for (role, name) in p.hfNames {
                guard let shape = p.hfShapes[role] else {
                    throw BridgeError(.mappingTable, "no shape for HF tensor '\(name)'", file: table.path)
                }
                if let seen = shapes[name], seen != shape {
                    throw BridgeError(.mappingTable, "HF tensor '\(name)' is declared as \(Shape.describe(seen)) and \(Shape.describe(shape))",
                                      file: table.path)
                }
                shapes[name] = shape
            }
        }
        return shapes.map { (name: $0.key, shape: $0.value) }.sorted { naturalLess($0.name, $1.name) }
    }

    public var totalBytes: Int { tensors.reduce(0) { $0 + $1.byteCount } }

    /// The generator of one planned tensor.
    public func source(for t: PlannedTensor) throws -> SyntheticTensor {
        try SyntheticTensor(name: t.name, shape: t.shape, dtype: t.dtype, seed: options.seed,
                            center: SyntheticTensor.isNormWeight(t.name) ? 1 : 0, scale: 0.02)
    }

    /// Writer items for the tensors `include` accepts (all by default).
    public func items(include: (String) -> Bool = { _ in true }) throws -> [SafeTensorsWriter.Item] {
        try tensors.filter { include($0.name) }.map { SafeTensorsWriter.Item(name: $0.name, dtype: $0.dtype, source: try source(for: $0)) }
    }

    /// Writes the checkpoint folder atomically: the safetensors shards (with `model.safetensors.index.json`
    /// when there is more than one, as `save_pretrained` does), config.json, generation_config.json and
    /// preprocessor_config.json.
    /// - Parameter include: which tensors to write (all by default; tests write a few small ones).
    @discardableResult
    public func write(to path: String, overwrite: Bool = false, executor: WriteExecutor = WriteExecutor(),
                      include: (String) -> Bool = { _ in true }) throws -> Summary {
        let start = Date()
        let items = try items(include: include)
        let shards = try SafeTensorsWriter.plan(items, maxShardSize: options.maxShardSize)
        let out = try AtomicOutputDirectory(finalPath: path, overwrite: overwrite, replaceable: OutputKinds.huggingFaceCheckpoint)
        try SafeTensorsWriter.write(shards, into: out.tempPath, executor: executor)
        for (file, json) in [("config.json", config), ("generation_config.json", SynthPreset.generationConfig),
                             ("preprocessor_config.json", SynthPreset.preprocessorConfig)] {
            try writeWholeFile(out.path(file), Array((JSONWriter.write(json) + "\n").utf8))
        }
        try out.commit()
        return Summary(path: path, tensors: items.count, shards: shards.count,
                       tensorBytes: items.reduce(0) { $0 + $1.byteCount }, seconds: Date().timeIntervalSince(start))
    }
}

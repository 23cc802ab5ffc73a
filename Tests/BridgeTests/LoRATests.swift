import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Megatron-Bridge 0.3.1 PEFT checkpoints (Fixtures/lora/, made by its own LoRA on CPU): the HF PEFT adapter we
/// make equals the one Megatron-Bridge's export_adapter_weights made, bit for bit, at TP1 and TP2; the merge
/// equals its merged HF export within fp32 rounding.
@Suite struct LoRATests {
    static func open(_ name: String) throws -> (MegatronSource, LoRAAdapterSet, HFConfig, MappingTable) {
        let source = try MegatronSource.open(try Fixtures.path("lora/\(name)"))
        guard case let .torchDist(c) = source else { throw BridgeError(.unknownFormat, "not torch_dist") }
        let set = try LoRAAdapterSet(store: TorchDistStore(c), path: c.directory)
        let found = try HFConfigRecovery.find(iterationDirectory: source.iterationDirectory, explicit: nil, mappings: mappingsDirectory)
        let table = try MappingTableLoader.table(forArchitecture: found.config.architectures[0], directory: mappingsDirectory)
        return (source, set, found.config, table)
    }

    @Test(arguments: [("tp1_full", 1), ("tp1_adapter", 1), ("tp2_adapter", 2)])
    func adapterEqualsMegatronBridgeExport(name: String, tp: Int) throws {
        let (source, set, config, table) = try Self.open(name)
        let parameters = try LoRAAdapterExport.parameters(source: source, adapters: set, hfConfig: config, table: table, expertLayout: .hub)
        let export = try LoRAAdapterExport(parameters: parameters, adapters: set, dtype: nil)
        let theirs = try SafeTensorsCheckpoint(path: try Fixtures.path("lora/tp\(tp)_mb_adapter.safetensors"))
        #expect(export.items.count == theirs.names.count)
        for item in export.items {
            let name = String(item.name.dropFirst(LoRAAdapterExport.prefix.count))
            #expect(item.name.hasPrefix(LoRAAdapterExport.prefix))
            let t = try theirs.tensor(name)
            #expect(item.shape == t.shape, "\(name)")
            #expect(try item.source.readBytes() == t.readBytes(), "\(name)")
        }
    }

    @Test func mergeEqualsMegatronBridgeMerge() throws {
        let (source, set, config, table) = try Self.open("tp1_full")
        // The full checkpoint records no alpha; the adapter-only checkpoint of the same run does.
        let recorded = try LoRAScaling.recorded(iterationDirectory: try Self.open("tp1_adapter").0.iterationDirectory)
        #expect(try LoRAScaling.recorded(iterationDirectory: source.iterationDirectory) == nil)
        let reader = LoRAMergingReader(inner: try source.reader(hfConfig: config, table: table), adapters: set, recorded: recorded, alphaOverride: nil)
        let plan = try ExportPlan(reader: reader, hfConfig: config, table: table, request: ExportRequest())
        #expect(reader.scaling?.scale == Double(recorded!.alpha!) / Double(recorded!.dim!))
        let theirs = try SafeTensorsCheckpoint(path: try Fixtures.path("lora/tp1_mb_merged.safetensors"))
        var compared = 0
        for t in plan.hfTensors where theirs.contains(t.name) {
            let ours = try plan.hfSource(t).readBytes(as: .f32), ref = try theirs.tensor(t.name).readBytes(as: .f32)
            let a = ours.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }, b = ref.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-6, "\(t.name)")
            compared += 1
        }
        #expect(compared == theirs.names.count)
    }

    @Test func alphaResolution() throws {
        let recorded = try LoRAScaling.recorded(iterationDirectory: try Self.open("tp2_adapter").0.iterationDirectory)!
        #expect(try LoRAScaling.resolve(rank: recorded.dim!, recorded: recorded, override: nil, path: "x").alpha == recorded.alpha)
        #expect(try LoRAScaling.resolve(rank: recorded.dim!, recorded: recorded, override: 3, path: "x").scale == 3 / Double(recorded.dim!))
        #expect(throws: BridgeError.self) { try LoRAScaling.resolve(rank: recorded.dim! + 1, recorded: recorded, override: nil, path: "x") }
        #expect(throws: BridgeError.self) { try LoRAScaling.resolve(rank: 4, recorded: nil, override: nil, path: "x") }
        #expect(throws: BridgeError.self) { try LoRAScaling.resolve(rank: 4, recorded: nil, override: -1, path: "x") }
    }

    /// A store of the fixture's tensors with some keys renamed or dropped.
    final class EditedStore: TensorStore {
        let inner: TensorStore
        let names: [String: String]   // shown name → stored name
        init(_ inner: TensorStore, edit: (String) -> String?) {
            self.inner = inner
            var n = [String: String]()
            for k in inner.tensorNames { if let e = edit(k) { n[e] = k } }
            names = n
        }
        var tensorNames: [String] { Array(names.keys) }
        func tensorSource(_ name: String) throws -> TensorSource { try inner.tensorSource(names[name]!) }
    }

    @Test func unsupportedOrIncompleteAdaptersAreRefused() throws {
        let (source, _, _, _) = try Self.open("tp1_adapter")
        guard case let .torchDist(c) = source else { return }
        let store = TorchDistStore(c)
        // CanonicalLoRA's per-projection adapters (adapter.adapter_q...) are another kind.
        let canonical = EditedStore(store) { $0.replacingOccurrences(of: "linear_qkv.adapter.", with: "linear_qkv.adapter.adapter_q.") }
        #expect(throws: BridgeError.self) { try LoRAAdapterSet(store: canonical, path: "x") }
        let oneSided = EditedStore(store) { $0.hasSuffix("linear_proj.adapter.linear_out.weight") ? nil : $0 }
        #expect(throws: BridgeError.self) { try LoRAAdapterSet(store: oneSided, path: "x") }
        // An adapter on a weight the mapping does not have is not dropped.
        let stray = EditedStore(store) { $0.replacingOccurrences(of: "mlp.linear_fc2.adapter", with: "mlp.linear_fc3.adapter") }
        let (_, _, config, table) = try Self.open("tp1_adapter")
        let set = try LoRAAdapterSet(store: stray, path: "x")
        let parameters = try LoRAAdapterExport.parameters(source: source, adapters: set, hfConfig: config, table: table, expertLayout: .hub)
        #expect(throws: BridgeError.self) { try LoRAAdapterExport(parameters: parameters, adapters: set, dtype: nil) }
    }
}

import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Reading the checkpoints Megatron-Bridge (0.3.1 and 0.6.2) wrote and exporting them reproduces the
/// original transformers tensors bit for bit, with the config rebuilt from their run_config.yaml.
@Suite struct ExportFromMegatronBridgeTests {
    @Test(arguments: BridgeFixture.all)
    func exportReproducesTransformersTensors(fixture: BridgeFixture) throws {
        let dir = Fixtures.scratch("export-mb")
        defer { FileSystem.remove(dir) }
        let source = try MegatronSource.open(try Fixtures.path("\(fixture.model)/\(fixture.name)/megatron"))
        let found = try HFConfigRecovery.find(iterationDirectory: source.iterationDirectory, explicit: nil, mappings: mappingsDirectory)
        #expect(found.origin == "run_config.yaml")
        let table = try MappingTableLoader.table(forArchitecture: found.config.architectures[0], directory: mappingsDirectory)
        for (hfDir, experts) in [("hf", ExpertLayoutChoice.v5), ("hf_v4", .hub)] {
            let out = FileSystem.join(dir, hfDir)
            let plan = try ExportPlan(reader: try source.reader(hfConfig: found.config, table: table), hfConfig: found.config,
                                      table: table, request: ExportRequest(expertLayout: experts))
            #expect(plan.context.visionLayout == fixture.visionLayout)
            try ExportPipeline.run(plan, hfConfig: found.config, configDirectory: nil, to: out, overwrite: false, executor: WriteExecutor())
            let report = try CheckpointDiff.compare(try TensorCatalog.open(try Fixtures.path("\(fixture.model)/\(hfDir)")), try TensorCatalog.open(out))
            #expect(report.isEqual, "\(fixture) → \(hfDir): \(report.differing.prefix(3)) \(report.missing.prefix(3))")
            // The rebuilt config describes the same model.
            let original = try HFConfig(directory: try Fixtures.path("\(fixture.model)/\(hfDir)"))
            let rebuilt = try HFConfig(directory: out)
            #expect(try ProviderBuilder.language(rebuilt, section: table.textSection).architecture
                    == ProviderBuilder.language(original, section: table.textSection).architecture)
            #expect(try ProviderBuilder.vision(rebuilt, section: "vision_config") == ProviderBuilder.vision(original, section: "vision_config"))
        }
    }

    /// Our import of the same HF model equals Megatron-Bridge's checkpoint, global tensor by global tensor.
    @Test(arguments: BridgeFixture.all)
    func ourImportEqualsMegatronBridge(fixture: BridgeFixture) throws {
        let dir = Fixtures.scratch("import-mb")
        defer { FileSystem.remove(dir) }
        let hf = try HFCheckpoint(path: try Fixtures.path("\(fixture.model)/hf"), mappings: mappingsDirectory)
        let out = FileSystem.join(dir, "m")
        try ImportPipeline.run(try ImportPlan(source: hf, request: ImportRequest(layout: fixture.layout, visionLayout: fixture.visionLayout)),
                               to: out, overwrite: false, executor: WriteExecutor())
        let report = try CheckpointDiff.compare(try TensorCatalog.open(try Fixtures.path("\(fixture.model)/\(fixture.name)/megatron")),
                                                try TensorCatalog.open(out))
        #expect(report.isEqual, "\(fixture): \(report.differing.prefix(3)) \(report.missing.prefix(3)) \(report.extra.prefix(3))")
    }
}

extension LanguageProvider {
    /// The fields that decide the weights' names and shapes (a config rebuilt from run_config.yaml may
    /// spell the rest, like token ids or norm_topk_prob, differently).
    var architecture: [String] {
        ["\(numLayers)", "\(hiddenSize)", "\(ffnHiddenSize)", "\(numAttentionHeads)", "\(numQueryGroups)", "\(kvChannels)",
         "\(vocabSize)", "\(numMoeExperts ?? 0)", "\(moeFfnHiddenSize ?? 0)", "\(mlpOnlyLayers)", "\(decoderSparseStep)",
         "\(shareEmbeddingsAndOutputWeights)", "\(mropeSection ?? [])", "\(rotaryBase)", "\(layernormEpsilon)", "\(addQKVBias)"]
    }
}

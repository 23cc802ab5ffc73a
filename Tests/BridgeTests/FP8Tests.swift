import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Fine-grained FP8 HF folders against torch (Fixtures/fp8, scripts/oracle/make_fp8_fixtures.py): the
/// reader layer yields torch's dequantized bytes, the round trip through Megatron and `--quantize` yields
/// torch's FP8 bytes, and every mismatch between weights, scales and config is a typed error.
@Suite struct FP8Tests {
    static let models = ["qwen3_vl_dense_tiny", "qwen3_vl_moe_tiny"]

    @Test(arguments: models, [DType.bf16, .f32])
    func readerYieldsTorchDequantization(_ model: String, _ dtype: DType) throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("fp8/\(model)/hf"), mappings: mappingsDirectory, dequantizeTo: dtype)
        let expected = try SafeTensorsCheckpoint(path: try Fixtures.path("fp8/\(model)/expected_\(dtype == .bf16 ? "bf16" : "fp32").safetensors"))
        #expect(!expected.names.isEmpty && hf.weights.scaleNames.count == expected.names.count)
        #expect(!hf.weights.names.contains { $0.hasSuffix("_scale_inv") })
        for n in expected.names {
            #expect(hf.weights.entry(n)?.dtype == dtype)
            let t = try hf.weights.tensor(n)
            #expect(t.dtype == dtype && t.shape == expected.entry(n)!.shape)
            #expect(try t.readBytes() == (try expected.tensor(n).readBytes()), "\(n)")
        }
        // Strict accounting passes: every scale consumed with its weight, nothing unused.
        let plan = try ImportPlan(source: hf, request: ImportRequest())
        #expect(plan.skipped.isEmpty)
    }

    /// Any sub-region reads the same bytes as the whole tensor, which equal torch's quantization.
    @Test(arguments: models)
    func quantizedRegionsEqualTorch(_ model: String) throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("\(model)/hf"))
        let fp8 = try SafeTensorsCheckpoint(path: try Fixtures.path("fp8/\(model)/hf"))
        var rng = SeededGenerator(seed: 7)
        var checked = 0
        for n in fp8.names where fp8.entry(n)!.dtype == .f8e4m3 {
            let base = try src.tensor(n)
            let q = try FP8QuantizedTensor(base: base, part: .elements, block: (48, 48), name: n)
            let s = try FP8QuantizedTensor(base: base, part: .scales, block: (48, 48), name: n)
            let wantQ = try fp8.tensor(n), wantS = try fp8.tensor(FP8QuantizationConfig.scaleName(of: n))
            #expect(s.shape == wantS.shape)
            #expect(try q.readBytes() == (try wantQ.readBytes()), "\(n)")
            #expect(try s.readBytes() == (try wantS.readBytes()), "\(n) scales")
            for _ in 0..<4 {
                let box = randomBox(q.shape, &rng)
                #expect(try q.readBytes(box) == (try wantQ.readBytes(box)), "\(n) \(box)")
            }
            checked += 1
        }
        #expect(checked > 0)
    }

    private func randomBox(_ shape: [Int], _ rng: inout SeededGenerator) -> Box {
        var off = [Int](), size = [Int]()
        for d in shape {
            let a = Int.random(in: 0..<d, using: &rng), b = Int.random(in: (a + 1)...d, using: &rng)
            off.append(a)
            size.append(b - a)
        }
        return Box(offsets: off, sizes: size)
    }

    /// import of the fp32 source → Megatron → export --quantize, into `dir/q`.
    private func exportQuantized(_ model: String, _ dir: String, block: (Int, Int), experts: ExpertLayoutChoice) throws -> String {
        let hf = try HFCheckpoint(path: try Fixtures.path("\(model)/hf"), mappings: mappingsDirectory)
        let meg = FileSystem.join(dir, "m"), out = FileSystem.join(dir, "q")
        if !FileSystem.isDirectory(meg) {
            try ImportPipeline.run(try ImportPlan(source: hf, request: ImportRequest()), to: meg, overwrite: false, executor: WriteExecutor())
        }
        let source = try MegatronSource.open(meg)
        let q = FP8QuantizationConfig(blockRows: block.0, blockCols: block.1)
        let plan = try ExportPlan(reader: try source.reader(hfConfig: hf.config, table: hf.table), hfConfig: hf.config, table: hf.table,
                                  request: ExportRequest(expertLayout: experts, dtype: .bf16, quantize: q))
        try ExportPipeline.run(plan, hfConfig: hf.config, configDirectory: nil, to: out, overwrite: true, executor: WriteExecutor())
        return out
    }

    /// import → Megatron → export --quantize 48x48 writes torch's FP8 bytes and the fixture's quantization_config.
    @Test func exportQuantizeEqualsTorch() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        let out = try exportQuantized("qwen3_vl_dense_tiny", dir, block: (48, 48), experts: .v5)
        let fixture = try Fixtures.path("fp8/qwen3_vl_dense_tiny/hf")
        let report = try CheckpointDiff.compare(try TensorCatalog.open(fixture), try TensorCatalog.open(out))
        #expect(report.isEqual, "\(report.missing.prefix(3)) \(report.extra.prefix(3)) \(report.differing.prefix(3))")
        #expect(try HFConfig(directory: out).json["quantization_config"] == (try HFConfig(directory: fixture).json["quantization_config"]))
    }

    /// Fused experts whose block height splits gate from up would be read differently by transformers'
    /// `FP8Experts` (stacked per-half grids): refused, with nothing written; per-expert tensors are fine,
    /// and so is a block height dividing moe_intermediate_size (24).
    @Test func fusedExpertBlocksMustNotStraddleGateAndUp() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        #expect { _ = try exportQuantized("qwen3_vl_moe_tiny", dir, block: (48, 48), experts: .v5) } throws: {
            ($0 as? BridgeError)?.code == .request && ($0 as? BridgeError)?.key?.hasSuffix("gate_up_proj") == true
        }
        #expect(!FileSystem.isDirectory(FileSystem.join(dir, "q")))
        #expect(throws: BridgeError.self) { _ = try exportQuantized("qwen3_vl_moe_tiny", dir, block: (24, 32), experts: .hub) }
        for (block, experts) in [((48, 48), ExpertLayoutChoice.perExpert), ((24, 32), .v5)] {
            let out = try exportQuantized("qwen3_vl_moe_tiny", dir, block: block, experts: experts)
            let back = try HFCheckpoint(path: out, mappings: mappingsDirectory)
            #expect(back.weights.quantization?.blockRows == block.0 && back.weights.scaleNames.count > 0)
            _ = try ImportPlan(source: back, request: ImportRequest())  // strict accounting of the FP8 folder
        }
    }

    // MARK: errors

    /// A copy of the FP8 fixture with its tensors edited and its config's quantization_config replaced.
    private func editedCopy(_ dir: String, quantization: JSONValue?? = .none,
                            edit: (String, ContiguousTensor) -> [(String, TensorSource)] = { [($0, $1)] }) throws -> String {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("fp8/qwen3_vl_dense_tiny/hf"))
        let out = FileSystem.join(dir, "hf")
        var items = [SafeTensorsWriter.Item]()
        for n in src.names { for (name, t) in edit(n, try src.tensor(n)) { items.append(.init(name: name, source: t)) } }
        try SafeTensorsWriter.save(items, to: out)
        var config = try HFConfig(directory: src.directory).json
        if case let .some(q) = quantization {
            config = q.map { HFConfigWriter.settingQuantization(config, to: $0) } ?? HFConfigWriter.removingQuantization(config)
        }
        try writeWholeFile(FileSystem.join(out, "config.json"), Array(JSONWriter.write(config).utf8))
        return out
    }

    private func importError(_ hf: String) throws -> BridgeError? {
        do {
            _ = try ImportPlan(source: try HFCheckpoint(path: hf, mappings: mappingsDirectory), request: ImportRequest())
            return nil
        } catch let e as BridgeError {
            return e
        }
    }

    static let qProj = "model.language_model.layers.0.self_attn.q_proj.weight"

    @Test func weightWithoutScaleIsAnError() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        let e = try importError(try editedCopy(dir) { n, t in n == Self.qProj + "_scale_inv" ? [] : [(n, t)] })
        #expect(e?.code == .missingKeys && e?.key == Self.qProj)
    }

    @Test func scaleWithoutWeightIsAnError() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        let e = try importError(try editedCopy(dir) { n, t in n == Self.qProj ? [] : [(n, t)] })
        #expect(e?.code == .unusedKeys && e?.key == Self.qProj + "_scale_inv")
    }

    @Test func fp8WithoutQuantizationConfigIsAnError() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        let e = try importError(try editedCopy(dir, quantization: .some(nil)))
        #expect(e?.code == .config && e?.summary.contains("no quantization_config") == true)
    }

    @Test func fp8InUnconvertedModuleIsAnError() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        var q = FP8QuantizationConfig(blockRows: 48, blockCols: 48)
        q.modulesToNotConvert.append("self_attn.q_proj")  // a suffix, as transformers matches
        let e = try importError(try editedCopy(dir, quantization: .some(q.json)))
        #expect(e?.code == .config && e?.key == Self.qProj)
    }

    @Test func wrongBlockSizeIsAnError() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        let e = try importError(try editedCopy(dir, quantization: .some(FP8QuantizationConfig(blockRows: 64, blockCols: 64).json)))
        #expect(e?.code == .shape && e?.key?.hasSuffix("_scale_inv") == true)
    }

    @Test func otherQuantizationMethodsAreRefused() throws {
        let dir = Fixtures.scratch("fp8")
        defer { FileSystem.remove(dir) }
        let awq = JSONValue.object([("quant_method", .string("awq")), ("bits", .int(4))])
        let e = try importError(try editedCopy(dir, quantization: .some(awq)))
        #expect(e?.code == .config && e?.key == "quantization_config.quant_method")
    }
}

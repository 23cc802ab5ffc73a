import Bridge
import Testing
@testable import CkptBridgeCLI

/// `export --quantize fp8-block[:ROWSxCOLS]` on the command line, and the expert layout it implies.
@Suite struct QuantizeOptionTests {
    @Test func blockSizes() throws {
        let hub = try #require(QuantizeOption(argument: "fp8-block")).config
        #expect(hub.blockRows == FP8QuantizationConfig.hubBlock && hub.blockCols == FP8QuantizationConfig.hubBlock)
        #expect(hub.modulesToNotConvert == FP8QuantizationConfig.hubModulesToNotConvert)
        let c = try #require(QuantizeOption(argument: "fp8-block:48x32")).config
        #expect(c.blockRows == 48 && c.blockCols == 32)
        #expect(QuantizeOption(argument: "fp8-block:64")?.config.blockCols == 64)
        for bad in ["fp8", "int8", "fp8-block:", "fp8-block:0x4", "fp8-block:4x", "fp8-block:axb", "fp8-block:1x2x3"] {
            #expect(QuantizeOption(argument: bad) == nil, "\(bad)")
        }
    }

    @Test func quantizingDefaultsToTheV5ExpertLayout() throws {
        #expect(try ExportArguments.parse(["m", "o"]).experts == .hub)
        #expect(try ExportArguments.parse(["m", "o", "--quantize", "fp8-block"]).experts == .v5)
        #expect(try ExportArguments.parse(["m", "o", "--quantize", "fp8-block", "--expert-layout", "per-expert"]).experts == .perExpert)
        #expect(throws: (any Error).self) { try ExportArguments.parse(["m", "o", "--quantize", "fp8-block:0"]) }
    }
}

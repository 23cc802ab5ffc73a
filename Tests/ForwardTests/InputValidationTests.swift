import Forward
import TensorCore
import TestSupport
import Testing

/// Integers read from an inputs file are range-checked before the forward pass does arithmetic on them.
@Suite struct InputValidationTests {
    /// A grid of (1, -2, -2) multiplies to 4 patches, so it used to pass the row check and reach the
    /// position and patch loops with negative bounds (a trap).
    @Test func negativeImageGridIsRefused() throws {
        let dir = Fixtures.scratch("forward-grid")
        defer { FileSystem.remove(dir) }
        let path = FileSystem.join(dir, "inputs.safetensors")
        try ForwardInputs(inputIds: [1, 2], pixelValues: [Float](repeating: 0, count: 8), imageGridTHW: [[1, -2, -2]]).save(to: path)
        let e = #expect(throws: ForwardError.self) { try ForwardInputs(path: path) }
        #expect(e?.code == .input && e?.key == "image_grid_thw")
    }
}

import Foundation

/// The two GELU forms Qwen3-VL runtimes use.
public enum GELUKind: String, Sendable {
    /// `0.5·x·(1 + erf(x/√2))`: `nn.GELU()`, transformers' patch mergers.
    case exact
    /// `0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))`: `gelu_pytorch_tanh`, the vision blocks, and Megatron's mergers.
    case tanh
}

/// Element-wise activations.
enum Activations {
    static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// GELU with the erf form (`nn.GELU()`, transformers' merger activation).
    static func geluExact(_ x: Float) -> Float { 0.5 * x * (1 + erff(x / Float(2).squareRoot())) }

    /// GELU with the tanh approximation (`gelu_pytorch_tanh`, Megatron's vision activation).
    static func geluTanh(_ x: Float) -> Float {
        let c = Float((2.0 / Double.pi).squareRoot())
        return 0.5 * x * (1 + tanhf(c * (x + 0.044715 * x * x * x)))
    }

    static func gelu(_ x: inout [Float], _ kind: GELUKind) {
        switch kind {
        case .exact: for i in x.indices { x[i] = geluExact(x[i]) }
        case .tanh: for i in x.indices { x[i] = geluTanh(x[i]) }
        }
    }

    /// SwiGLU: `silu(gate) · up`, element-wise.
    static func swiglu(gate: [Float], up: [Float]) -> [Float] {
        precondition(gate.count == up.count)
        var y = [Float](repeating: 0, count: gate.count)
        for i in y.indices { y[i] = silu(gate[i]) * up[i] }
        return y
    }
}

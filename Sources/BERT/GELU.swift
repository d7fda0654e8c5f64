// GELU, the feed-forward and MLM-transform activation, in HF's two forms:
//   exact ("gelu"):        x·Φ(x) = ½x(1 + erf(x/√2))
//   tanh ("gelu_new", "gelu_pytorch_tanh"): ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
// Backward recomputes from the pre-activation, so the layer keeps only its input.

private let inverseSqrt2: Float = 0.707_106_77
private let inverseSqrt2Pi: Float = 0.398_942_3     // 1/√(2π)
private let sqrt2OverPi: Float = 0.797_884_56       // √(2/π)

/// out[count] = gelu(x[count]). out may equal x.
func geluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, activation: Activation) {
    Parallel.forEachChunk(count) { range in
        geluForwardChunk(out + range.lowerBound, x + range.lowerBound, count: range.count, activation: activation)
    }
}

private func geluForwardChunk(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, activation: Activation) {
    // In place (the inference path) through one pointer: with out == x, LLVM's overlap check sends the
    // two-pointer loop down its scalar version (bert-base inference: GELU 26% of the time, measured with perf).
    if UnsafePointer(out) == x { return geluInPlaceChunk(out, count: count, activation: activation) }
    switch activation {
    case .gelu:
        for i in 0..<count { let v = x[i]; out[i] = 0.5 * v * (1 + fastErf(v * inverseSqrt2)) }
    case .geluTanh:
        for i in 0..<count {
            let v = x[i]
            out[i] = 0.5 * v * (1 + fastTanh(sqrt2OverPi * (v + 0.044715 * v * v * v)))
        }
    }
}

private func geluInPlaceChunk(_ x: UnsafeMutablePointer<Float>, count: Int, activation: Activation) {
    switch activation {
    case .gelu:
        for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + fastErf(v * inverseSqrt2)) }
    case .geluTanh:
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + fastTanh(sqrt2OverPi * (v + 0.044715 * v * v * v)))
        }
    }
}

/// grad[count] *= gelu'(x), in place: the gradient at the output becomes the one at the input.
/// (In place by signature: with separate dx/dOut pointers that alias, LLVM's overlap check
/// sent every call down the scalar loop; measured in the bert-tiny profile.)
func geluBackward(_ grad: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int, activation: Activation) {
    Parallel.forEachChunk(count) { range in
        geluBackwardChunk(grad + range.lowerBound, x: x + range.lowerBound, count: range.count, activation: activation)
    }
}

private func geluBackwardChunk(_ grad: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int, activation: Activation) {
    switch activation {
    case .gelu:
        // d/dx xΦ(x) = Φ(x) + x·φ(x)
        for i in 0..<count {
            let v = x[i]
            let cdf = 0.5 * (1 + fastErf(v * inverseSqrt2))
            let pdf = inverseSqrt2Pi * fastExp(-0.5 * v * v)
            grad[i] *= (cdf + v * pdf)
        }
    case .geluTanh:
        for i in 0..<count {
            let v = x[i]
            let th = fastTanh(sqrt2OverPi * (v + 0.044715 * v * v * v))
            let dInner = sqrt2OverPi * (1 + 3 * 0.044715 * v * v)
            grad[i] *= (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dInner)
        }
    }
}

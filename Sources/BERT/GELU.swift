// GELU, the feed-forward and MLM-transform activation, in HF's two forms:
//   exact ("gelu"):        x·Φ(x) = ½x(1 + erf(x/√2))
//   tanh ("gelu_new", "gelu_pytorch_tanh"): ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
// Backward recomputes from the pre-activation, so the layer keeps only its input. The loops are
// CKernels' (compiled for AVX2 + FMA as well as the baseline); here they are split over threads.

import CKernels

/// out[count] = gelu(x[count]). out may equal x.
func geluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, activation: Activation) {
    let tanhForm: Int32 = activation == .gelu ? 0 : 1
    Parallel.forEachChunk(count) { range in
        bp_gelu_forward(out + range.lowerBound, x + range.lowerBound, range.count, tanhForm)
    }
}

/// grad[count] *= gelu'(x), in place: the gradient at the output becomes the one at the input.
func geluBackward(_ grad: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int, activation: Activation) {
    let tanhForm: Int32 = activation == .gelu ? 0 : 1
    Parallel.forEachChunk(count) { range in
        bp_gelu_backward(grad + range.lowerBound, x + range.lowerBound, range.count, tanhForm)
    }
}

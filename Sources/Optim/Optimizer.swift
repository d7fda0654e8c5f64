// Optimizers over the flat parameter buffer (design §5).
//
// Parameters, gradients and every optimizer moment share one `ParameterLayout`, so an
// update is a loop over the layout's tensors (per-tensor weight-decay flag, per-tensor
// trust ratio for LAMB) with plain element loops inside. State is a few flat buffers
// allocated once; a step allocates nothing.

import BERT
import Foundation
import Storage

public protocol Optimizer: AnyObject {
    /// Name written with the saved state ("AdamW", "LAMB"); a resume refuses another optimizer's state.
    var kind: String { get }
    /// Updates taken so far (drives bias correction); restored on resume.
    var stepCount: Int { get set }
    /// One update: increments `stepCount`, then moves `parameters` along `gradients` at `learningRate`.
    func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, learningRate: Float)
    /// Named state buffers ("exp_avg", "exp_avg_sq"), each with the parameters' layout, for exact resume.
    var stateBuffers: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] { get }
}

public struct OptimizerStateError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

extension Optimizer {
    /// The state as per-tensor views named "<buffer>.<parameter name>" (e.g. "exp_avg.bert.pooler.dense.weight"),
    /// ready for `Safetensors.write`.
    public func stateTensors(layout: ParameterLayout) -> [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)] {
        stateBuffers.flatMap { state in
            layout.tensors.map { spec in
                (name: "\(state.name).\(spec.name)", shape: spec.shape,
                 data: UnsafeBufferPointer(rebasing: state.buffer[spec.range]))
            }
        }
    }

    /// Writes moments and step count to a safetensors file (atomically), metadata
    /// {"optimizer": kind, "step": stepCount}.
    public func saveState(to path: String, layout: ParameterLayout) throws {
        try Safetensors.write(path: path, tensors: stateTensors(layout: layout),
                              metadata: ["optimizer": kind, "step": String(stepCount)])
    }

    /// Restores what `saveState` wrote; every tensor must be present with its shape, and the
    /// optimizer must be the same kind.
    public func loadState(from path: String, layout: ParameterLayout) throws {
        let file = try Safetensors.read(path: path)
        guard file.metadata["optimizer"] == kind else {
            throw OptimizerStateError(path: path, reason: "state of optimizer \(file.metadata["optimizer"] ?? "(none)"), this run uses \(kind)")
        }
        guard let stepText = file.metadata["step"], let step = Int(stepText), step >= 0 else {
            throw OptimizerStateError(path: path, reason: "metadata has no valid \"step\" (found \(file.metadata["step"] ?? "nothing"))")
        }
        for state in stateBuffers {
            guard state.buffer.count == layout.count else {
                throw OptimizerStateError(path: path, reason: "optimizer buffer \(state.name) has \(state.buffer.count) floats, layout \(layout.count)")
            }
            for spec in layout.tensors {
                let name = "\(state.name).\(spec.name)"
                guard let tensor = file[name] else {
                    throw OptimizerStateError(path: path, reason: "tensor \"\(name)\" missing")
                }
                guard tensor.shape == spec.shape else {
                    throw OptimizerStateError(path: path, reason: "tensor \"\(name)\" has shape \(tensor.shape), expected \(spec.shape)")
                }
                try file.read(name, into: UnsafeMutableBufferPointer(rebasing: state.buffer[spec.range]))
            }
        }
        stepCount = step
    }
}

/// Allocates a zeroed state buffer of `count` floats (freed by the optimizer's deinit).
func zeroedBuffer(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    buffer.initialize(repeating: 0)
    return buffer
}

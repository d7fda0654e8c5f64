// Every parameter tensor's gradient of BertForPreTraining against central finite differences of
// the loss, unpadded (lengths 9, 6, 4 at T = 9: the default path) and padded (FiniteDifferences.swift: the method and why its tolerances hold).
// Dropout is on (p = 0.1). Its masks are keyed by (seed, batch.step, instance, layer, site), all
// fixed here, so every evaluation draws the same masks and dropout's backward is checked too
// (ModelBehaviourTests.testKeyedDropoutMasksAreFixedByTheirKeys makes sure of it).
@testable import BERT
import XCTest

final class GradientCheckTests: XCTestCase {
    func checkGradients(activation: Activation, packed: Bool = true) throws {
        let model = try TinyModel.model(dropout: 0.1, activation: activation)
        model.encoder.packsSequences = packed
        let batch = TinyModel.batch()
        let first = try model.forward(batch, training: true)
        XCTAssertEqual(model.encoder.rows.isPacked, packed)
        XCTAssertEqual(first.mlmCount, 6)
        XCTAssertEqual(first.nspCount, 3)
        let mlmScale = 1 / Float(first.mlmCount), nspScale = 1 / Float(first.nspCount)
        func loss() throws -> Double {
            let l = try model.forward(batch, training: true)
            return l.mlmLossSum * Double(mlmScale) + l.nspLossSum * Double(nspScale)
        }
        _ = try model.forward(batch, training: true)
        model.zeroGradients()
        model.backward(mlmScale: mlmScale, nspScale: nspScale, gradientsReady: nil)
        try FiniteDifferences.check(layout: model.layout, parameters: model.parameters, gradient: Array(model.gradients), loss: loss)
    }

    func testEveryGradientMatchesFiniteDifferencesExactGELU() throws {
        try checkGradients(activation: .gelu)
    }

    func testEveryGradientMatchesFiniteDifferencesTanhGELU() throws {
        try checkGradients(activation: .geluTanh(name: "gelu_new"))
    }

    /// The rectangular path (`--padded`) too.
    func testEveryGradientMatchesFiniteDifferencesPadded() throws {
        try checkGradients(activation: .gelu, packed: false)
    }
}

// BatchLoader: this rank's micro-batches for the steps of one epoch, read by a background
// thread one step ahead, so reading shards overlaps the step being computed.
//
// Two sets of A micro-batches (A = accumulation steps) are allocated once and used in turn:
// the thread fills one set while the trainer computes on the other. `free` counts sets the
// thread may fill, `ready` counts sets the trainer may take.
// Every row carries its global instance number and every batch its optimizer step: the keys of
// the row's dropout masks, so they do not depend on the rank or micro-batch that reads it.

import BERT
import Foundation
import PretrainingData

public final class BatchLoader {
    public let plan: DataPlan
    private let dataset: PretrainingDataset
    private let rank: Int
    private let masking: DynamicMasking?
    private let sets: [[PretrainingBatch]]          // [2][A], each [b, T] / [b, P]
    private let free = DispatchSemaphore(value: 2)
    private let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var failure: Error?
    private var stopRequested = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private var nextSet = 0
    /// Seconds the trainer waited for data (should stay near zero).
    public private(set) var waitSeconds = 0.0

    public init(dataset: PretrainingDataset, plan: DataPlan, rank: Int, masking: DynamicMasking?) {
        self.dataset = dataset
        self.plan = plan
        self.rank = rank
        self.masking = masking
        sets = (0..<2).map { _ in
            (0..<plan.accumulationSteps).map { _ in
                let b = PretrainingBatch(maxBatch: plan.batchSize, maxSeqLength: dataset.maxSeqLength,
                                         maxPredictions: dataset.maxPredictions)
                b.batchSize = plan.batchSize
                b.seqLength = dataset.maxSeqLength
                b.maxPredictions = dataset.maxPredictions
                return b
            }
        }
    }

    deinit { stop() }

    /// Starts reading, in the background, from step `firstStep` (0-based) of `epoch` through the end of
    /// `lastEpoch`: the next epoch's first batches are read while the current epoch ends (evaluation, checkpoint).
    public func start(epoch: Int, firstStep: Int, lastEpoch: Int) {
        stop()
        lock.lock(); stopRequested = false; failure = nil; lock.unlock()
        nextSet = 0
        let t = Thread { [unowned self] in self.produce(epoch: epoch, firstStep: firstStep, lastEpoch: lastEpoch) }
        t.name = "batch-loader"
        t.stackSize = 1 << 20
        thread = t
        t.start()
    }

    private func produce(epoch firstEpoch: Int, firstStep: Int, lastEpoch: Int) {
        defer { finished.signal() }
        var set = 0
        for epoch in firstEpoch...max(firstEpoch, lastEpoch) {
            let order = plan.order(epoch: epoch)
            for step in (epoch == firstEpoch ? firstStep : 0)..<plan.stepsPerEpoch {
                free.wait()
                lock.lock(); let stopping = stopRequested; lock.unlock()
                if stopping { return }
                do {
                    for micro in 0..<plan.accumulationSteps {
                        let batch = sets[set][micro]
                        batch.step = (epoch - 1) * plan.stepsPerEpoch + step   // steps done before this one
                        for (row, index) in plan.instances(order: order, step: step, micro: micro, rank: rank).enumerated() {
                            var x = try dataset.instance(index)
                            if let masking { x = masking.remask(x, epoch: epoch, index: index) }
                            batch.fill(row: row, with: x)
                            batch.instances[row] = index
                        }
                    }
                } catch {
                    lock.lock(); failure = error; lock.unlock()
                    ready.signal()
                    return
                }
                ready.signal()
                set ^= 1
            }
        }
    }

    /// The next step's A micro-batches. Valid until the following call.
    public func next() throws -> [PretrainingBatch] {
        let start = DispatchTime.now().uptimeNanoseconds
        // Hand the set used by the previous step back to the thread.
        if nextSetTaken { free.signal() }
        ready.wait()
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        lock.lock(); let error = failure; lock.unlock()
        if let error { throw error }
        let out = sets[nextSet]
        nextSet ^= 1
        nextSetTaken = true
        return out
    }
    private var nextSetTaken = false

    /// Stops the background thread (at the end of an epoch or on an early stop).
    public func stop() {
        guard thread != nil else { return }
        lock.lock(); stopRequested = true; lock.unlock()
        // Let a thread blocked in free.wait() see the request.
        free.signal(); free.signal()
        finished.wait()
        thread = nil
        // Back to the initial counts: two free sets, none ready.
        while free.wait(timeout: .now()) == .success {}
        while ready.wait(timeout: .now()) == .success {}
        free.signal(); free.signal()
        nextSetTaken = false
    }
}

extension PretrainingBatch {
    /// Writes instance `x` into row `row` of `batch` (padded to seqLength / maxPredictions).
    /// Public for `bench --data`, which must see the rows exactly as training does.
    public func fill(row: Int, with x: PretrainingInstance) {
        let T = seqLength, P = maxPredictions
        let n = min(x.inputIds.count, T)
        for t in 0..<T {
            let real = t < n
            inputIds[row * T + t] = real ? x.inputIds[t] : 0
            segmentIds[row * T + t] = real ? x.segmentIds[t] : 0
            inputMask[row * T + t] = real ? 1 : 0
        }
        let m = min(x.maskedPositions.count, P)
        for p in 0..<P {
            maskedPositions[row * P + p] = p < m ? x.maskedPositions[p] : 0
            maskedLabels[row * P + p] = p < m ? x.maskedIds[p] : -1
        }
        nextSentenceLabels[row] = x.nextSentenceLabel
    }
}

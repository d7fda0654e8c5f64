// GradientReducer: sums the gradient buffer over all ranks in buckets, each started
// (MPI_Iallreduce) as soon as backward reports its range final, so communication of the
// later layers overlaps the backward of the earlier ones.
//
// Backward reports ranges from the end of the buffer towards the start (heads, layers
// L-1…0, embeddings); adjacent ranges are merged until a bucket holds at least
// `minimumBucket` floats, so a model with many small tensors does not start hundreds of
// tiny reductions.

import Distributed
import Foundation

public final class GradientReducer {
    private let communicator: Communicator
    private let gradients: UnsafeMutableBufferPointer<Float>
    private let minimumBucket: Int
    private var pending: [PendingReduction] = []
    private var bucket: Range<Int>? = nil
    private var failure: Error?
    /// Floats reported final by backward in this step.
    private var covered = 0
    /// Seconds spent blocked in `finish()` during the last step.
    public private(set) var lastWaitSeconds = 0.0

    public init(communicator: Communicator, gradients: UnsafeMutableBufferPointer<Float>, minimumBucket: Int = 1 << 19) {
        self.communicator = communicator
        self.gradients = gradients
        self.minimumBucket = minimumBucket
        pending.reserveCapacity(256)
    }

    /// For `BertForPreTraining.backward(gradientsReady:)`: `range` of the gradient is final.
    public func rangeReady(_ range: Range<Int>) {
        guard communicator.size > 1, !range.isEmpty else { return }
        covered += range.count
        if let current = bucket {
            if range.upperBound == current.lowerBound {
                bucket = range.lowerBound..<current.upperBound
            } else if range.lowerBound == current.upperBound {
                bucket = current.lowerBound..<range.upperBound
            } else {
                start(current)
                bucket = range
            }
        } else {
            bucket = range
        }
        if let b = bucket, b.count >= minimumBucket { start(b); bucket = nil }
        // Let MPI progress the reductions already in flight.
        for p in pending { p.test() }
    }

    private func start(_ range: Range<Int>) {
        do {
            let slice = UnsafeMutableBufferPointer(rebasing: gradients[range])
            if let p = try communicator.startAllReduceSum(slice) { pending.append(p) }
        } catch {
            if failure == nil { failure = error }
        }
    }

    /// Starts whatever is left and waits for every bucket; afterwards `gradients` holds the sum over ranks.
    /// If backward reported no range at all, the whole buffer is reduced here in one call.
    public func finish() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        if communicator.size > 1 {
            if let b = bucket { start(b); bucket = nil }
            for p in pending { p.wait() }   // (with the stall watchdog, waiting also keeps the ranks' progress table current)
            if covered == 0 {
                try communicator.allReduce(gradients)
            } else if covered != gradients.count, failure == nil {
                failure = TrainingError.badOption("internal: backward reported \(covered) of \(gradients.count) gradient values final; the rest would not be summed over ranks")
            }
        }
        pending.removeAll(keepingCapacity: true)
        covered = 0
        lastWaitSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        if let failure { self.failure = nil; throw failure }
    }
}

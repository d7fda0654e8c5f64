// Synthetic full-length batches, as torch_bert_bench.py's `make_batch` builds them, so that both
// benchmarks time the same shapes: [CLS] A [SEP] B [SEP] over the whole length, ids uniform in
// [1000, vocab), P distinct positions replaced by [MASK], random next-sentence labels.

import BERT
import Randomness

public enum SyntheticBatch {
    static let cls: Int32 = 101, sep: Int32 = 102, mask: Int32 = 103

    public static func fill(_ batch: PretrainingBatch, batchSize B: Int, seqLength T: Int, predictions P: Int,
                            vocabSize: Int, seed: UInt64) {
        precondition(vocabSize > 1000 && T >= 4 && P <= T - 3, "synthetic batch: vocab \(vocabSize), length \(T), predictions \(P)")
        var rng = SplitMix64(seed: seed)
        func next(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }   // reduced to [0, bound) by modulo
        batch.batchSize = B
        batch.seqLength = T
        batch.maxPredictions = P
        for b in 0..<B {
            let aEnd = T / 4 + next(T / 2)   // index of the first [SEP]
            for t in 0..<T {
                batch.inputIds[b * T + t] = Int32(1000 + next(vocabSize - 1000))
                batch.segmentIds[b * T + t] = t > aEnd ? 1 : 0
                batch.inputMask[b * T + t] = 1
            }
            batch.inputIds[b * T] = cls
            batch.inputIds[b * T + aEnd] = sep
            batch.inputIds[b * T + T - 1] = sep
            var candidates = (1..<(T - 1)).filter { $0 != aEnd }
            for k in 0..<P {   // partial Fisher-Yates: P distinct positions
                let j = k + next(candidates.count - k)
                candidates.swapAt(k, j)
            }
            for (k, position) in candidates[0..<P].sorted().enumerated() {
                batch.maskedPositions[b * P + k] = Int32(position)
                batch.maskedLabels[b * P + k] = batch.inputIds[b * T + position]
                batch.inputIds[b * T + position] = mask
            }
            batch.nextSentenceLabels[b] = Int32(next(2))
        }
    }

    /// The same sequences as sentence pairs for classification, labelled by their next-sentence label.
    public static func pairs(from batch: PretrainingBatch) -> ClassificationBatch {
        let B = batch.batchSize, T = batch.seqLength
        let pairs = ClassificationBatch(maxBatch: B, maxSeqLength: T)
        pairs.inputIds.baseAddress!.update(from: batch.inputIds.baseAddress!, count: B * T)
        pairs.segmentIds.baseAddress!.update(from: batch.segmentIds.baseAddress!, count: B * T)
        pairs.inputMask.baseAddress!.update(from: batch.inputMask.baseAddress!, count: B * T)
        for b in 0..<B { pairs.labels[b] = batch.nextSentenceLabels[b] }
        return pairs
    }
}

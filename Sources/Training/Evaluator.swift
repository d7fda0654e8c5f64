// Held-out evaluation: dropout off, every instance exactly once, sums reduced over ranks so the
// result does not depend on how many ranks share the work.
//
// Rank r takes the instances r, r+R, r+2R, … in batches of up to b (the last batch may be short).

import BERT
import Distributed
import Foundation
import ShardFormat

/// Sums over every evaluated instance (all ranks).
public struct EvaluationResult: Equatable, Sendable {
    public var sequences = 0
    public var maskedTokens = 0
    public var mlmLossSum = 0.0, mlmCorrect = 0
    public var nspLossSum = 0.0, nspCorrect = 0
    /// What a model that ignores the context scores on these masked tokens at best: always predicting
    /// the most frequent label (accuracy), or the labels' own frequency distribution (loss = its entropy,
    /// nats). A pretrained model below this loss and above this accuracy has learned from the context.
    public var unigramAccuracy = 0.0, unigramLoss = 0.0

    public init() {}

    public var mlmLoss: Double { mlmLossSum / Double(max(maskedTokens, 1)) }
    public var nspLoss: Double { nspLossSum / Double(max(sequences, 1)) }
    public var loss: Double { mlmLoss + nspLoss }
    public var mlmAccuracy: Double { Double(mlmCorrect) / Double(max(maskedTokens, 1)) }
    public var nspAccuracy: Double { Double(nspCorrect) / Double(max(sequences, 1)) }

    /// One JSON object (`evaluate --json`).
    public var json: String {
        struct Report: Encodable {
            let loss, mlm_loss, nsp_loss, mlm_accuracy, nsp_accuracy, mlm_unigram_accuracy, mlm_unigram_loss: Double
            let sequences, masked_tokens: Int
        }
        let report = Report(loss: loss, mlm_loss: mlmLoss, nsp_loss: nspLoss, mlm_accuracy: mlmAccuracy, nsp_accuracy: nspAccuracy,
                            mlm_unigram_accuracy: unigramAccuracy, mlm_unigram_loss: unigramLoss,
                            sequences: sequences, masked_tokens: maskedTokens)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(report), as: UTF8.self)   // finite sums of finite losses
    }
}

public enum Evaluator {
    /// What `evaluate` checks before the first batch: there is something to evaluate, and this rank's
    /// share of the shards (r, r+R, …) passes the validator every reader uses (the rules of `bert-corpus inspect`).
    public static func validate(_ dataset: PretrainingDataset, vocabSize: Int, special: SpecialTokenIds?,
                                communicator: Communicator) throws {
        guard dataset.count > 0 else {
            throw TrainingError.badShard(path: dataset.paths.joined(separator: ", "), reason: "no instances: nothing to evaluate")
        }
        try dataset.validateContent(shardNumbers: Array(stride(from: communicator.rank, to: dataset.paths.count, by: communicator.size)),
                                    vocabSize: vocabSize, special: special)
    }

    /// Evaluates `model` on every instance of `dataset`, sharing the work over the ranks of `communicator`.
    public static func evaluate(model: BertForPreTraining, dataset: PretrainingDataset, batch: PretrainingBatch,
                                communicator: Communicator, progress: ProgressMeter? = nil) throws -> EvaluationResult {
        let R = communicator.size, r = communicator.rank
        let capacity = batch.batchSize
        let mine: [Int] = Array(stride(from: r, to: dataset.count, by: R))
        var local = EvaluationResult()
        batch.seqLength = dataset.maxSeqLength
        batch.maxPredictions = dataset.maxPredictions
        var done = 0
        var labelCounts = [Int64](repeating: 0, count: model.config.vocabSize)
        for first in stride(from: 0, to: mine.count, by: capacity) {
            let take = mine[first..<min(first + capacity, mine.count)]
            batch.batchSize = take.count
            for (row, index) in take.enumerated() {
                batch.fill(row: row, with: try dataset.instance(index))
            }
            let loss = try model.forward(batch, training: false)
            for slot in 0..<(take.count * batch.maxPredictions) where batch.maskedLabels[slot] >= 0 {
                labelCounts[Int(batch.maskedLabels[slot])] += 1   // range-checked by the forward
            }
            local.sequences += loss.nspCount
            local.maskedTokens += loss.mlmCount
            local.mlmLossSum += loss.mlmLossSum
            local.mlmCorrect += loss.mlmCorrect
            local.nspLossSum += loss.nspLossSum
            local.nspCorrect += loss.nspCorrect
            done += take.count
            progress?.update(Double(done * R))
        }
        batch.batchSize = capacity
        // Counts as integers (exact), loss sums as doubles.
        var counts: [Int64] = [Int64(local.sequences), Int64(local.maskedTokens), Int64(local.mlmCorrect), Int64(local.nspCorrect)]
        try communicator.allReduce(&counts)
        var sums = [local.mlmLossSum, local.nspLossSum]
        try communicator.allReduce(&sums)
        var total = EvaluationResult()
        total.sequences = Int(counts[0]); total.maskedTokens = Int(counts[1])
        total.mlmCorrect = Int(counts[2]); total.nspCorrect = Int(counts[3])
        total.mlmLossSum = sums[0]; total.nspLossSum = sums[1]
        try communicator.allReduce(&labelCounts)
        let masked = Double(max(total.maskedTokens, 1))
        total.unigramAccuracy = Double(labelCounts.max() ?? 0) / masked
        total.unigramLoss = labelCounts.reduce(0) { $1 > 0 ? $0 - Double($1) / masked * log(Double($1) / masked) : $0 }
        return total
    }
}

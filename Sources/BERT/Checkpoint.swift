// Checkpoint: a Hugging Face `BertForPreTraining` directory <-> the flat parameter buffer.
//
//   DIR/config.json         BertConfig.jsonData()
//   DIR/model.safetensors   every ParameterLayout tensor under its HF key, F32, [out, in] linears
//   DIR/vocab.txt           copied when the run knows its vocabulary
//   DIR/<extra files>       the trainer's state, written into the same atomic directory
//
// The MLM decoder is tied to the word embeddings (and its bias to `cls.predictions.bias`),
// so neither is stored: transformers' `from_pretrained` re-ties them and reports no missing
// key (checked with transformers 5.23 by Tests/BERTTests/Fixtures/hf-parity/make_fixture.py).
//
// Loading accepts what HF BERT checkpoints contain in the wild: keys with or without the
// `bert.` prefix (a headless `BertModel` gets fresh heads), TF-era `gamma`/`beta` LayerNorm
// names, `position_ids` buffers, an explicit decoder weight/bias, sharded safetensors
// (`model.safetensors.index.json`). Shapes are checked tensor by tensor.

import Foundation
import Logging
import Randomness
import Storage

public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

/// What `Checkpoint.load` did with every tensor (HF names after normalisation).
public struct CheckpointLoadReport: Sendable {
    /// The safetensors files read.
    public var files: [String] = []
    /// Layout tensors filled from the checkpoint.
    public var loaded: [String] = []
    /// Layout tensors the checkpoint lacks, freshly initialised (heads of a headless model).
    public var initialized: [String] = []
    /// Checkpoint tensors deliberately not used: buffers (`position_ids`) and the tied decoder.
    public var ignored: [String] = []
    /// Checkpoint tensors this model has no place for (e.g. a fine-tuned classifier).
    public var unknown: [String] = []
    /// Every warning also sent to the logger.
    public var warnings: [String] = []

    mutating func warn(_ message: String, _ logger: Logger?) {
        warnings.append(message)
        logger?.warning("\(message)")
    }
}

public enum Checkpoint {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"
    public static let shardIndexFile = "model.safetensors.index.json"
    public static let vocabFile = "vocab.txt"

    // MARK: Save

    /// Writes DIR/{config.json, model.safetensors, vocab.txt?, extra files} as a HF
    /// `BertForPreTraining` checkpoint: into a temporary directory beside DIR, every file
    /// fsynced, then renamed over DIR (a previous DIR is replaced only once the new one is complete).
    /// `extraFiles` maps a file name to a writer that receives the file's full path.
    /// `configJSON` replaces the encoder's config.json (a head's fields added, e.g. `ClassifierConfig`).
    public static func save(parameters: UnsafeBufferPointer<Float>, layout: ParameterLayout, to dir: String,
                            configJSON: Data? = nil, vocabPath: String? = nil,
                            extraFiles: [String: (String) throws -> Void] = [:]) throws {
        guard parameters.count == layout.count else {
            throw CheckpointError(path: dir, reason: "parameter buffer has \(parameters.count) floats, layout needs \(layout.count)")
        }
        let fm = FileManager.default
        let parent = URL(fileURLWithPath: dir).deletingLastPathComponent().path
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let tmp = AtomicFile.temporaryPath(for: dir)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        func inTmp(_ name: String) -> String { (tmp as NSString).appendingPathComponent(name) }
        do {
            try AtomicFile.write(configJSON ?? layout.config.jsonData(), to: inTmp(configFile))
            let tensors = layout.tensors.map { spec in
                (name: spec.name, shape: spec.shape, data: UnsafeBufferPointer(rebasing: parameters[spec.range]))
            }
            try Safetensors.write(path: inTmp(weightsFile), tensors: tensors, metadata: ["format": "pt"])
            pauseForCrashTests()
            if let vocabPath {
                let vocab: Data
                do { vocab = try Data(contentsOf: URL(fileURLWithPath: vocabPath)) } catch {
                    throw CheckpointError(path: vocabPath, reason: "cannot read vocabulary to copy into the checkpoint: \(error.localizedDescription)")
                }
                try AtomicFile.write(vocab, to: inTmp(vocabFile))
            }
            for (name, writer) in extraFiles.sorted(by: { $0.key < $1.key }) {
                guard !name.isEmpty, !name.contains("/"), ![configFile, weightsFile, vocabFile].contains(name) else {
                    throw CheckpointError(path: dir, reason: "extra file name \"\(name)\" is empty, a path or a reserved name")
                }
                try writer(inTmp(name))
            }
            try AtomicFile.syncTree(tmp)
            try AtomicFile.commit(temporary: tmp, to: dir)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
    }

    /// The crash tests kill a job inside a checkpoint write; a write of a tiny model takes a few
    /// milliseconds, too short to hit on a loaded machine. `BERT_PRETRAIN_TEST_PAUSE_IN_CHECKPOINT_WRITE=S`
    /// holds every write S seconds with half its files in the temporary directory. For tests only.
    private static let crashTestPause: Double? = ProcessInfo.processInfo
        .environment["BERT_PRETRAIN_TEST_PAUSE_IN_CHECKPOINT_WRITE"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil }

    private static func pauseForCrashTests() {
        if let seconds = crashTestPause { usleep(useconds_t(min(seconds, 60) * 1_000_000)) }
    }

    // MARK: Load

    /// The `BertConfig` of a checkpoint directory (its config.json).
    public static func config(in dir: String) throws -> BertConfig {
        let path = (dir as NSString).appendingPathComponent(configFile)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(path: dir, reason: "no \(configFile): not a Hugging Face model directory")
        }
        return try BertConfig.load(path: path)
    }

    /// Loads a HF BERT checkpoint directory into `parameters` (laid out by `layout`, whose config
    /// must agree with the directory's config.json). Missing pooler/heads are initialised as HF
    /// does (N(0, initializer_range) weights, zero biases, LayerNorm 1/0) from `seed`, with a warning
    /// naming them; missing encoder tensors, shape mismatches and non-finite weights are errors.
    public static func load(from dir: String, into parameters: UnsafeMutableBufferPointer<Float>,
                            layout: ParameterLayout, seed: UInt64, logger: Logger?) throws -> CheckpointLoadReport {
        guard parameters.count == layout.count else {
            throw CheckpointError(path: dir, reason: "parameter buffer has \(parameters.count) floats, layout needs \(layout.count)")
        }
        var report = CheckpointLoadReport()
        if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(configFile)) {
            try checkConfig(try config(in: dir), matches: layout.config, dir: dir)
        }
        let files = try weightFiles(in: dir).map { try Safetensors.read(path: $0) }
        report.files = files.map(\.path)
        var sources = index(files, report: &report, logger: logger)
        let missing = try fill(parameters, layout: layout, from: &sources, report: &report)
        try initializeMissing(missing, in: parameters, layout: layout, seed: seed, dir: dir, report: &report, logger: logger)
        try sortLeftovers(sources, parameters: parameters, layout: layout, report: &report, logger: logger)
        if !report.unknown.isEmpty {
            report.warn("\(dir): ignoring \(report.unknown.count) tensor(s) this model does not have: \(report.unknown.prefix(8).joined(separator: ", "))\(report.unknown.count > 8 ? ", ..." : "")", logger)
        }
        return report
    }

    /// Where each tensor is: normalised name -> (file, key in that file); the first occurrence wins.
    private typealias Sources = [String: (file: SafetensorsFile, key: String)]

    private static func index(_ files: [SafetensorsFile], report: inout CheckpointLoadReport, logger: Logger?) -> Sources {
        var sources: Sources = [:]
        for file in files {
            for tensor in file.tensors {
                let name = normalisedName(tensor.name)
                if let previous = sources[name] {
                    report.warn("\(file.path): tensor \"\(tensor.name)\" duplicates \"\(previous.key)\" (both are \(name)); using the first", logger)
                    continue
                }
                sources[name] = (file, tensor.name)
            }
        }
        return sources
    }

    /// Reads every layout tensor the checkpoint has (shapes checked), taking it out of `sources`;
    /// returns the layout tensors it lacks.
    private static func fill(_ parameters: UnsafeMutableBufferPointer<Float>, layout: ParameterLayout,
                             from sources: inout Sources, report: inout CheckpointLoadReport) throws -> [TensorSpec] {
        var missing: [TensorSpec] = []
        for spec in layout.tensors {
            var source = sources.removeValue(forKey: spec.name)
            if spec.name == decoderBias, source == nil {
                // Some exports keep only the decoder's own name for the tied output bias.
                source = sources.removeValue(forKey: decoderBiasAlias)
            }
            guard let (file, key) = source else {
                missing.append(spec)
                continue
            }
            let found = file[key]!
            guard found.shape == spec.shape else {
                throw CheckpointError(path: file.path, reason: "tensor \"\(key)\" has shape \(found.shape), this model's \(spec.name) needs \(spec.shape)")
            }
            try file.read(key, into: UnsafeMutableBufferPointer(rebasing: parameters[spec.range]))
            report.loaded.append(spec.name)
        }
        return missing
    }

    /// A missing encoder tensor is an error; missing pooler and head tensors are initialised as HF does.
    private static func initializeMissing(_ missing: [TensorSpec], in parameters: UnsafeMutableBufferPointer<Float>,
                                          layout: ParameterLayout, seed: UInt64, dir: String,
                                          report: inout CheckpointLoadReport, logger: Logger?) throws {
        let encoderMissing = missing.filter { !$0.mayBeMissing }
        if !encoderMissing.isEmpty {
            let names = encoderMissing.prefix(8).map(\.name).joined(separator: ", ")
            throw CheckpointError(path: dir, reason: "checkpoint lacks \(encoderMissing.count) encoder tensor(s): \(names)\(encoderMissing.count > 8 ? ", ..." : "")")
        }
        guard !missing.isEmpty else { return }
        var rng = SplitMix64(seed: seed)
        for spec in missing { initialize(spec, in: parameters, std: Float(layout.config.initializerRange), rng: &rng) }
        report.initialized = missing.map(\.name)
        report.warn("\(dir): checkpoint has no \(missing.map(\.name).joined(separator: ", ")); initialised fresh (seed \(seed))", logger)
    }

    /// What is left after `fill`: buffers (ignored), copies of the tied decoder (ignored, with a warning
    /// when they differ from what the model ties them to), and tensors of other architectures (unknown).
    private static func sortLeftovers(_ sources: Sources, parameters: UnsafeMutableBufferPointer<Float>, layout: ParameterLayout,
                                      report: inout CheckpointLoadReport, logger: Logger?) throws {
        let word = layout.tensor(named: "bert.embeddings.word_embeddings.weight")!
        let outputBias = layout.tensor(named: decoderBias)   // nil without the MLM head
        for (name, (file, key)) in sources.sorted(by: { $0.key < $1.key }) {
            if name.hasSuffix("position_ids") || name.hasSuffix("embeddings.token_type_ids") {
                report.ignored.append(key)
            } else if let outputBias, name == decoderWeight || name == decoderBiasAlias {
                let tiedTo = name == decoderWeight ? word : outputBias
                report.ignored.append(key)
                guard let tensor = file[key], tensor.shape == tiedTo.shape else {
                    report.warn("\(file.path): \"\(key)\" has shape \(file[key]!.shape), not \(tiedTo.shape) of \(tiedTo.name) it is tied to; ignored", logger)
                    continue
                }
                let values = try file.floats(key)
                var maxDifference: Float = 0
                for (i, v) in values.enumerated() { maxDifference = max(maxDifference, abs(v - parameters[tiedTo.offset + i])) }
                if maxDifference > 0 {
                    report.warn("\(file.path): \"\(key)\" differs from \(tiedTo.name) (max |difference| \(maxDifference)); the model ties them and uses \(tiedTo.name)", logger)
                }
            } else {
                report.unknown.append(key)
            }
        }
    }

    // MARK: Names

    static let decoderWeight = "cls.predictions.decoder.weight"
    static let decoderBias = "cls.predictions.bias"
    static let decoderBiasAlias = "cls.predictions.decoder.bias"

    /// HF key as written by any BERT export -> the `BertForPreTraining` key of the layout.
    static func normalisedName(_ key: String) -> String {
        var name = key
        // A bare `BertModel` saves its tensors without the `bert.` prefix.
        for prefix in ["embeddings.", "encoder.", "pooler."] where name.hasPrefix(prefix) {
            name = "bert." + name
        }
        // TF-converted checkpoints name LayerNorm's scale and shift gamma and beta.
        if name.hasSuffix("LayerNorm.gamma") { name = String(name.dropLast("gamma".count)) + "weight" }
        if name.hasSuffix("LayerNorm.beta") { name = String(name.dropLast("beta".count)) + "bias" }
        return name
    }

    // MARK: Helpers

    /// The safetensors file(s) of DIR; a clear error when it only has PyTorch or TF weights.
    static func weightFiles(in dir: String) throws -> [String] {
        let fm = FileManager.default
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError(path: dir, reason: "no such checkpoint directory")
        }
        if fm.fileExists(atPath: path(weightsFile)) { return [path(weightsFile)] }
        if fm.fileExists(atPath: path(shardIndexFile)) {
            let indexPath = path(shardIndexFile)
            guard let data = fm.contents(atPath: indexPath),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = object["weight_map"] as? [String: String] else {
                throw CheckpointError(path: indexPath, reason: "not a safetensors index (no \"weight_map\" object of strings)")
            }
            let names = Set(map.values).sorted()
            for name in names where name.contains("/") || !fm.fileExists(atPath: path(name)) {
                throw CheckpointError(path: indexPath, reason: "shard \"\(name)\" named in weight_map is missing")
            }
            return names.map(path)
        }
        let others = ["pytorch_model.bin", "tf_model.h5", "model.ckpt.index", "flax_model.msgpack"].filter { fm.fileExists(atPath: path($0)) }
        if !others.isEmpty {
            throw CheckpointError(path: dir, reason: "has \(others.joined(separator: ", ")) but no \(weightsFile): only safetensors checkpoints are supported; convert with transformers: BertForPreTraining.from_pretrained(DIR).save_pretrained(OUT) (writes model.safetensors)")
        }
        throw CheckpointError(path: dir, reason: "no \(weightsFile) (nor \(shardIndexFile))")
    }

    /// The architecture fields must agree; dropout and initializer range may differ (training choices).
    static func checkConfig(_ found: BertConfig, matches expected: BertConfig, dir: String) throws {
        var differences: [String] = []
        func compare<T: Equatable>(_ field: String, _ a: T, _ b: T) {
            if a != b { differences.append("\(field) \(a) (model expects \(b))") }
        }
        compare("vocab_size", found.vocabSize, expected.vocabSize)
        compare("hidden_size", found.hiddenSize, expected.hiddenSize)
        compare("num_hidden_layers", found.numHiddenLayers, expected.numHiddenLayers)
        compare("num_attention_heads", found.numAttentionHeads, expected.numAttentionHeads)
        compare("intermediate_size", found.intermediateSize, expected.intermediateSize)
        compare("max_position_embeddings", found.maxPositionEmbeddings, expected.maxPositionEmbeddings)
        compare("type_vocab_size", found.typeVocabSize, expected.typeVocabSize)
        compare("hidden_act", found.hiddenAct.name, expected.hiddenAct.name)
        compare("layer_norm_eps", found.layerNormEps, expected.layerNormEps)
        if !differences.isEmpty {
            throw CheckpointError(path: (dir as NSString).appendingPathComponent(configFile),
                                  reason: "config does not match the model: \(differences.joined(separator: "; "))")
        }
    }

    /// HF `_init_weights` for one tensor: LayerNorm γ=1, biases (and β) 0, other weights N(0, std).
    static func initialize(_ spec: TensorSpec, in parameters: UnsafeMutableBufferPointer<Float>, std: Float,
                           rng: inout SplitMix64) {
        let value: Float?
        if spec.name.hasSuffix("LayerNorm.weight") { value = 1 }
        else if spec.name.hasSuffix("bias") { value = 0 }
        else { value = nil }
        for i in spec.range {
            parameters[i] = value ?? std * rng.nextNormal()
        }
    }
}

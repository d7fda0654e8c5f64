// swift-tools-version: 6.0
// bert-pretrain: distributed data-parallel BERT pretraining on MPI + OpenBLAS + HDF5.
import PackageDescription

// Release builds keep bounds and overflow checks everywhere (-O, not -Ounchecked): every module
// parses something a user hands it (config.json, safetensors, vocab.txt, shards, trainer state, text),
// and a bug must trap with a message instead of reading out of bounds. Only the run-time exclusivity
// checks are dropped. Measured (README, "Reliability"): the bench step and the tokenizer run at the
// same speed as with -Ounchecked within the machine's noise, since the hot loops run on unsafe
// pointers and BLAS, which have no per-element checks either way.
let checkedButFast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

// For modules whose generic code runs in their callers' hot loops (PretrainingData's algorithms over the
// caller's documents and RNG; ShardFormat's row rules, which the shard writer applies to every instance):
// cross-module optimisation lets the callers specialise it. Without it the corpus build ran the
// unspecialised generic code and took 25 % longer (measured when Corpus was split into three modules).
let specialisedByCallers: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "bert-pretrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bert-pretrain", targets: ["bert-pretrain"]),
        .executable(name: "bert-corpus", targets: ["bert-corpus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // MARK: C libraries (system-library targets; shim.h exposes the macros Swift cannot import)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // oneDNN's matmul for --precision bf16 on CPUs with bf16 instructions (Debian ships no .pc file for it).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // The element-wise math (fast exp/erf/tanh, the GELU loops) in C: its loops are compiled for AVX2 + FMA as
        // well as the baseline and picked at load time (target_clones), which Swift cannot do.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // MARK: Libraries, one concern each
        .target(name: "Distributed", dependencies: ["CMPI", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Storage", dependencies: ["CCrypto", "CZlib"]),
        // The seeded generators (SplitMix64, xoshiro256**): one home, no dependencies.
        .target(name: "Randomness", swiftSettings: checkedButFast),
        .target(name: "BERT", dependencies: ["CBLAS", "CDNNL", "CKernels", "Storage", "Randomness", .product(name: "Logging", package: "swift-log")],
                swiftSettings: checkedButFast),
        // sqrt without errno (it is never given a negative here) lets the update loops use vector sqrtps:
        // AdamW on bert-base went from scalar sqrtss + sqrtf calls to vectorised (see Sources/Optim/AdamW.swift).
        .target(name: "Optim", dependencies: ["BERT", "Storage"],
                swiftSettings: checkedButFast + [.unsafeFlags(["-Xcc", "-fno-math-errno"])]),
        .target(name: "Tokenization", dependencies: ["Storage"],
                swiftSettings: checkedButFast),
        // Google's create_pretraining_data.py algorithms (instances, masking) and CPython's random.
        .target(name: "PretrainingData", dependencies: ["Randomness"], swiftSettings: checkedButFast + specialisedByCallers),
        // Shards: the HDF5 layout, reading, attributes, validation rules, statistics, discovery, verification.
        .target(name: "ShardFormat", dependencies: ["CHDF5", "PretrainingData", "Tokenization", "Distributed", "Storage"],
                swiftSettings: checkedButFast + specialisedByCallers),
        // The MPI corpus build: documents, input formats, sentence splitter, token store, spill, manifest,
        // and the shard writer (its compressors: zlib, libdeflate).
        .target(name: "CorpusBuild", dependencies: ["CHDF5", "CZlib", "CDeflate", "PretrainingData", "ShardFormat",
                                                    "Tokenization", "Distributed", "Storage", "Randomness",
                                                    .product(name: "Logging", package: "swift-log")],
                swiftSettings: checkedButFast),
        .target(name: "Training", dependencies: ["BERT", "Optim", "PretrainingData", "ShardFormat", "Distributed", "Tokenization", "Storage", "Randomness",
                                                 .product(name: "Logging", package: "swift-log")],
                swiftSettings: checkedButFast),
        // Fine-tuning on a pretrained encoder: task files, label sets, metrics, the finetune run.
        .target(name: "FineTuning", dependencies: ["BERT", "Optim", "Training", "Tokenization", "Distributed", "Storage",
                                                   .product(name: "Logging", package: "swift-log")],
                swiftSettings: checkedButFast),
        // Using a model: embeddings, fill-mask, next-sentence scores, classifier predictions (forward only).
        .target(name: "Inference", dependencies: ["BERT", "FineTuning", "Tokenization", "Distributed", "Storage",
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: checkedButFast),

        // The training-step benchmark (`bert-pretrain bench`): synthetic batches as the PyTorch peer's, or real
        // ones read from shards through the trainer's reader, the peer's FLOP formula, the sgemm peak, the report.
        .target(name: "Benchmark", dependencies: ["BERT", "Optim", "Randomness", "ShardFormat", "Training"], swiftSettings: checkedButFast),

        // MARK: Executables
        .executableTarget(name: "bert-pretrain", dependencies: [
            "Training", "FineTuning", "Inference", "Benchmark", "BERT", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "bert-corpus", dependencies: [
            "CorpusBuild", "ShardFormat", "PretrainingData", "Tokenization", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "corpus-tools/bert-corpus"),

        // MARK: Tests
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "RandomnessTests", dependencies: ["Randomness"]),
        .testTarget(name: "BERTTests", dependencies: ["BERT", "CBLAS", "CDNNL", "CKernels", "Randomness", "Storage"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BenchmarkTests", dependencies: ["Benchmark", "BERT", "CorpusBuild", "PretrainingData"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "BERT", "Storage"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CorpusTests", dependencies: ["PretrainingData", "ShardFormat", "CorpusBuild", "Tokenization", "Randomness", "Storage"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "BERT", "Optim", "PretrainingData", "ShardFormat", "CorpusBuild", "Tokenization", "Randomness", "Storage"]),
        .testTarget(name: "FineTuningTests", dependencies: ["FineTuning", "BERT", "Tokenization", "Training"], resources: [.copy("Fixtures")]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "BERT", "Tokenization", "FineTuning", "Distributed"],
                    resources: [.copy("Fixtures")]),
        // Mutation fuzzing of the readers of untrusted input (FUZZ_CASES cases per reader; jobs/tests/fuzz.sh).
        .testTarget(name: "FuzzTests", dependencies: ["BERT", "Tokenization", "PretrainingData", "ShardFormat", "CorpusBuild", "Storage", "CZlib", "Randomness",
                                                      .product(name: "Logging", package: "swift-log")]),
    ],
    // C interop (stderr, MPI/HDF5 globals) is pervasive here; strict Swift 6 concurrency checking buys nothing
    // for a single-threaded-per-rank program and would wrap every C global in an unsafe annotation.
    swiftLanguageModes: [.v5]
)

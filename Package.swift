// swift-tools-version: 6.0
// bert-pretrain: distributed data-parallel BERT pretraining on MPI + OpenBLAS + HDF5.
import PackageDescription

// Hot loops are written for the optimiser; unchecked arithmetic is opt-in per site, not global.
let optimised: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
// The corpus tools read untrusted text: keep bounds and overflow checks (a bug traps with a message
// instead of corrupting memory), drop only the run-time exclusivity checks. Measured on a build of
// the WEB Bible x8: -O 8% more user CPU than -Ounchecked; without exclusivity checks and with the
// shard writer's byte shuffle over words, the same as -Ounchecked.
let checkedButFast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

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

        // MARK: Libraries, one concern each
        .target(name: "Distributed", dependencies: ["CMPI", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Storage", dependencies: ["CCrypto", "CZlib"]),
        .target(name: "BERT", dependencies: ["CBLAS", "Storage", .product(name: "Logging", package: "swift-log")],
                swiftSettings: optimised),
        // sqrt without errno (it is never given a negative here) lets the update loops use vector sqrtps:
        // AdamW on bert-base went from scalar sqrtss + sqrtf calls to vectorised (see Sources/Optim/AdamW.swift).
        .target(name: "Optim", dependencies: ["BERT"],
                swiftSettings: optimised + [.unsafeFlags(["-Xcc", "-fno-math-errno"])]),
        .target(name: "Tokenization", dependencies: ["Storage"],
                swiftSettings: optimised),
        .target(name: "Corpus", dependencies: ["CHDF5", "CZlib", "CDeflate", "Tokenization", "Distributed", "Storage",
                                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: checkedButFast),
        .target(name: "Training", dependencies: ["BERT", "Optim", "Corpus", "Distributed", "Tokenization", "Storage",
                                                 .product(name: "Logging", package: "swift-log")],
                swiftSettings: optimised),

        // MARK: Executables
        .executableTarget(name: "bert-pretrain", dependencies: [
            "Training", "BERT", "Optim", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "bert-corpus", dependencies: [
            "Corpus", "Tokenization", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "corpus-tools/bert-corpus"),

        // MARK: Tests
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "BERTTests", dependencies: ["BERT"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "BERT"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "Tokenization"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "BERT", "Optim", "Corpus", "Tokenization"]),
        // Mutation fuzzing of the readers of untrusted input (FUZZ_CASES cases per reader; jobs/tests/fuzz.sh).
        .testTarget(name: "FuzzTests", dependencies: ["BERT", "Tokenization", "Corpus", "Storage", "CZlib",
                                                      .product(name: "Logging", package: "swift-log")]),
    ],
    // C interop (stderr, MPI/HDF5 globals) is pervasive here; strict Swift 6 concurrency checking buys nothing
    // for a single-threaded-per-rank program and would wrap every C global in an unsafe annotation.
    swiftLanguageModes: [.v5]
)

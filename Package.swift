// swift-tools-version:6.0
import PackageDescription

// CheckpointBridge: torch-free Qwen3-VL checkpoint conversion between Hugging Face safetensors and
// Megatron-Core checkpoints. The target list mirrors the architecture (see Docs/architecture.md):
// formats at the bottom, the conversion engine and the reference model above them, the CLI on top.
let package = Package(
    name: "CheckpointBridge",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ckpt-bridge", targets: ["CkptBridgeCLI"]),
        .library(name: "CheckpointBridgeC", type: .dynamic, targets: ["CheckpointBridgeC"]),
        .library(name: "Bridge", targets: ["Bridge"]),
        .library(name: "Forward", targets: ["Forward"]),
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
        .library(name: "TorchFormats", targets: ["TorchFormats"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libxxhash-dev, libzstd-dev, libopenblas-dev, libpng-dev,
        // libjpeg62-turbo-dev).
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        // PNG and JPEG decoding in C, so libpng's and libjpeg's longjmp error paths never cross a Swift frame.
        .target(name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"]),
        // Image files → RGB bytes (PNG, JPEG), with typed errors; the image processor itself is in Forward.
        .target(name: "ImageCodecs", dependencies: ["TensorCore", "CImageCodecs"]),

        // CRC-32 with carry-less multiplication (zip checksums run over every byte written).
        .target(name: "CCRC32"),
        .target(name: "CSystem"),
        // SHA-256 with the x86 SHA extensions (integrity.json manifests hash every byte of a checkpoint).
        .target(name: "CSHA256"),
        // Transposes with SSE2 register kernels (the fused-expert layouts move most bytes through them).
        .target(name: "CTranspose"),
        // Dtypes, shapes, boxes, mmap and positional I/O, strided copies, XXH3, JSON, atomic output folders.
        .target(name: "TensorCore", dependencies: ["CXXHash", "CZstd", "CCRC32", "CSystem", "CSHA256", "CTranspose"]),
        // The safetensors format: validated headers, sharded folders, streaming writer.
        .target(name: "SafeTensors", dependencies: ["TensorCore"]),
        // PyTorch and Megatron-Core file formats: pickle VM and emitter, torch.save zips, DCP, legacy ranks.
        .target(name: "TorchFormats", dependencies: ["TensorCore"]),
        // The validated model config (config.json → ModelSpec, sizes capped by `Limits`) every command reads.
        .target(name: "ModelSpec", dependencies: ["TensorCore"]),
        // Providers, mapping tables, transforms, parallel layouts, plans and the executor.
        .target(name: "Bridge", dependencies: ["TensorCore", "SafeTensors", "TorchFormats", "ModelSpec",
                                               .product(name: "Yams", package: "Yams")]),
        // Synthetic Hugging Face checkpoints with real model shapes (benchmarks and tests), derived from the tables.
        .target(name: "Synth", dependencies: ["TensorCore", "SafeTensors", "Bridge"]),
        // The fp32 reference model (OpenBLAS) with independent HF and Megatron weight readers.
        .target(name: "Forward", dependencies: ["TensorCore", "SafeTensors", "TorchFormats", "ModelSpec", "COpenBLAS"]),
        // Qwen2-style byte-level BPE tokenizers (tokenizer.json) and the Qwen3-VL chat format: encode, decode.
        .target(name: "Tokenizer", dependencies: ["TensorCore"]),
        // Opening any checkpoint (HF or Megatron) for the forward pass, and its inputs: shared by the CLI and the C ABI.
        .target(name: "ForwardCheckpoint", dependencies: ["TensorCore", "SafeTensors", "Bridge", "Forward", "ImageCodecs", "Tokenizer"]),
        .executableTarget(name: "CkptBridgeCLI", dependencies: [
            "TensorCore", "SafeTensors", "TorchFormats", "Bridge", "Forward", "ForwardCheckpoint", "Synth", "Tokenizer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The C ABI (libCheckpointBridgeC.so): JSON requests and results, progress and cancellation; the header is
        // include/ckpt_bridge.h. The Python package `ckpt_bridge` (python/) calls it through ctypes.
        .target(name: "CheckpointBridgeC", dependencies: ["TensorCore", "SafeTensors", "Bridge", "Forward", "ForwardCheckpoint"],
                exclude: ["include"]),

        // Test support: fixture archive unpacking (zstd) and helpers shared by every test target.
        .target(name: "TestSupport", dependencies: ["TensorCore", "CZstd"], path: "Tests/TestSupport"),
        // The fuzz harness bodies (Tests/Fuzz/README.md): driven by libFuzzer through scripts/fuzz.sh, and
        // replayed over the committed crash inputs by FuzzRegressionTests.
        .target(name: "FuzzTargets", dependencies: ["TensorCore", "SafeTensors", "TorchFormats", "Bridge", "ImageCodecs", "Tokenizer"], path: "Tests/Fuzz/FuzzTargets"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TestSupport"]),
        .testTarget(name: "TorchFormatsTests", dependencies: ["TorchFormats", "SafeTensors", "TestSupport"]),
        .testTarget(name: "BridgeTests", dependencies: ["Bridge", "Forward", "Synth", "SafeTensors", "TorchFormats", "TestSupport"]),
        .testTarget(name: "ForwardTests", dependencies: ["Forward", "ImageCodecs", "Bridge", "Synth", "SafeTensors", "TorchFormats", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TensorCore", "TestSupport"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["CkptBridgeCLI", "Bridge", "Forward", "ForwardCheckpoint", "Synth", "SafeTensors", "TorchFormats", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)

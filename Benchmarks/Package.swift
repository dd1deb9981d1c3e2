// swift-tools-version: 6.1
// In-process benchmarks (package-benchmark), kept out of the main package so that
// `make test` never builds them. Run with `make bench` (release build).
import PackageDescription

let package = Package(
    name: "collector-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "collector", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.29.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPath",
            dependencies: [
                .product(name: "Telemetry", package: "collector"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/HotPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "Rules",
            dependencies: [
                .product(name: "Alerts", package: "collector"),
                .product(name: "Telemetry", package: "collector"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/Rules",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)

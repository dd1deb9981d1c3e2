// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "collector",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "collector", targets: ["Collector"]),
        .library(name: "Telemetry", targets: ["Telemetry"]),
        .library(name: "Alerts", targets: ["Alerts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // gzip for HTTP answers (zlib underneath: Debian zlib1g-dev).
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    ],
    targets: [
        // libmosquitto, the system MQTT client library (Debian: libmosquitto-dev).
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // libsnappy (Debian: libsnappy-dev): Prometheus remote write bodies are snappy blocks.
        .systemLibrary(
            name: "CSnappy",
            pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"])]
        ),
        // libnats (Debian: libnats-dev): partition leases in a NATS cluster's key-value store.
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        // libpq (Debian: libpq-dev): the PostgreSQL client library, for a store shared by collectors.
        .systemLibrary(
            name: "CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // Readings, series, ring buffers, the downsampler, codecs, SQLite storage and queries.
        .target(
            name: "Telemetry",
            dependencies: [
                "CPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Storage/SCHEMA.md", "Storage/Postgres/SCHEMA.md", "Block/FORMAT.md"],
            swiftSettings: swiftSettings
        ),
        // Rules, alert state, derived indices and coverage. Reads Telemetry, never the reverse.
        .target(
            name: "Alerts",
            dependencies: [
                "Telemetry",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The daemon: MQTT session, HTTP, wiring and the command line.
        .executableTarget(
            name: "Collector",
            dependencies: [
                "Telemetry",
                "Alerts",
                "CMosquitto",
                "CSnappy",
                "CNATS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            // The dashboard page, compiled into the binary (PackageResources.dashboard_html).
            resources: [.embedInCode("HTTP/Dashboard/dashboard.html")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TelemetryTests",
            dependencies: ["Telemetry"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AlertsTests",
            dependencies: ["Alerts", "Telemetry"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CollectorTests",
            dependencies: [
                "Collector",
                "Telemetry",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

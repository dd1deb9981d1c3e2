import Alerts
import ArgumentParser
import Foundation
import Telemetry

/// `collector verify`: recomputes every rollup tier from the stored raw readings and
/// reports each bucket that differs. For operators after a crash or a restore, and for the
/// chaos run. It takes the store like the daemon does (refused while a collector runs on
/// it), first finishes what a killed collector left (the journal written to raw and merged,
/// as the next start would), then reads through the store's own read API.
///
/// Derived series (fire danger, flood risk, AQI, ...) are not recomputed yet: they become
/// functions of the stored inputs only once they are stamped at their inputs' times.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every rollup tier from the stored raw readings; report each bucket that differs (exit 1).",
        discussion: """
            Only buckets that start after the raw retention horizon are checked (older raw
            readings may be pruned while rollups stay); --from moves that start.
            Exit codes: 0 every tier equals its recompute; 1 a mismatch or a runtime error;
            2 a configuration error.
            """)

    @Option(help: "Configuration file: storage path, time zone, retention.") var config: String?
    @Option(help: "The SQLite file (default: the config's storage.path).") var db: String?
    @Option(help: "Check buckets from this time (epoch seconds; default: now minus max(raw_retention, accept_age)).") var from: Int64?
    @Option(name: .customLong("max-report"), help: "Print at most this many mismatches (all are counted).") var maxReport = 20
    @Flag(name: .customLong("by-metric"), help: "Also print the raw readings stored per metric.") var byMetric = false

    func run() async throws {
        let cfg: CollectorConfig
        do { cfg = try ConfigLoader.load(path: config) } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        let path = db ?? cfg.storage.path
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("collector verify: no store at \(path)\n".utf8))
            throw ExitCode(1)
        }
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        let horizon = from.map { $0 * 1000 } ?? now - max(cfg.storage.rawRetentionMillis, cfg.storage.acceptAgeMillis)
        let report: RollupVerifier.Report
        do {
            let lock = try StoreLock(databasePath: path)
            defer { withExtendedLifetime(lock) {} }
            let pool = try TelemetryDatabase.open(path: path, durability: cfg.storage.durability,
                                                  extraMigrations: AlertStore.registerMigrations)
            // Recovery, as a start does: the journal replayed into raw and the rollups. The
            // journal rows whose derived series are not stored yet stay for the daemon.
            let store = try TelemetryStore(pool: pool, timeZone: cfg.timezone, maxSeries: cfg.limits.maxSeries,
                                           quarantineLimit: cfg.storage.quarantineLimit, tracksDerived: true)
            try store.close()
            let reader = TelemetryReader(pool: pool, timeZone: cfg.timezone)
            report = try await RollupVerifier(reader: reader, timeZone: cfg.timezone).verify(from: horizon, maxReported: maxReport)
        } catch {
            FileHandle.standardError.write(Data("collector verify: \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let since = Date(timeIntervalSince1970: Double(horizon) / 1000).formatted(.iso8601)
        print("verify: \(report.series) series, \(report.readings) raw readings since \(since)")
        if byMetric {
            for (metric, n) in report.readingsByMetric.sorted(by: { $0.key < $1.key }) {
                print("verify: metric \(metric): \(n) readings")
            }
        }
        for tier in Tier.allCases {
            print("verify: \(tier): \(report.buckets[tier] ?? 0) buckets, \(report.mismatchCount[tier] ?? 0) differ")
        }
        for m in report.mismatches { print("verify: MISMATCH \(m)") }
        guard report.isExact else {
            print("verify: FAILED: \(report.mismatchCount.values.reduce(0, +)) buckets differ from the recompute")
            throw ExitCode(1)
        }
        print("verify: OK: every tier equals its recompute from raw")
    }
}

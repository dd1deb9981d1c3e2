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
/// Then the derived series (fire danger, flood risk, AQI, congestion, energy loss, ...):
/// recomputed from their stored inputs and compared (`DerivedCheck`); skipped while a killed
/// run's readings still wait for theirs (the next start computes them).
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every rollup tier and derived series from the stored readings; report each difference (exit 1).",
        discussion: """
            Only buckets and derived readings after the raw retention horizon are checked
            (older raw readings may be pruned while rollups stay); --from moves that start.
            Derived series are replayed from their stored inputs in time order; zone,
            unit and junction maxima and the meters' silence are not compared (they
            depend on the order readings arrived in).
            Exit codes: 0 everything equals its recompute; 1 a mismatch or a runtime error;
            2 a configuration error.
            """)

    @Option(help: "Configuration file: storage path, time zone, retention.") var config: String?
    @Option(help: "The SQLite file (default: the config's storage.path).") var db: String?
    @Option(help: "Check buckets from this time (epoch seconds; default: now minus max(raw_retention, accept_age)).") var from: Int64?
    @Option(name: .customLong("max-report"), help: "Print at most this many mismatches (all are counted).") var maxReport = 20
    @Flag(name: .customLong("by-metric"), help: "Also print the raw readings stored per metric.") var byMetric = false
    @Flag(name: .customLong("no-derived"), help: "Check the rollup tiers only.") var noDerived = false
    @Option(help: "Check this shared PostgreSQL store (postgresql://...) instead of the SQLite file.") var postgres: String?

    func run() async throws {
        let cfg: CollectorConfig
        let catalogue: Catalogue
        do {
            cfg = try ConfigLoader.load(path: config)
            catalogue = try ConfigLoader.catalogue(for: cfg)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        if let postgres { return try await verifyPostgres(postgres, cfg, catalogue) }
        let path = db ?? cfg.storage.path
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("collector verify: no store at \(path)\n".utf8))
            throw ExitCode(1)
        }
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        let horizon = from.map { $0 * 1000 } ?? now - cfg.storage.rawKeepMillis
        let report: RollupVerifier.Report
        var derived: DerivedVerifier.Report?
        var waiting = 0
        do {
            let lock = try StoreLock(databasePath: path)
            defer { withExtendedLifetime(lock) {} }
            let pool = try TelemetryDatabase.open(path: path, durability: cfg.storage.durability,
                                                  extraMigrations: AlertStore.registerMigrations)
            // Recovery, as a start does: the journal replayed into raw and the rollups. The
            // journal rows whose derived series are not stored yet stay for the daemon.
            let store = try TelemetryStore(pool: pool, timeZone: cfg.timezone, maxSeries: cfg.limits.maxSeries,
                                           quarantineLimit: cfg.storage.quarantineLimit, tracksDerived: true,
                                       rawHorizon: { [keep = cfg.storage.rawKeepMillis] in SystemWallClock().now() - keep })
            waiting = try store.journalReadingCount(after: store.derivedUpTo)
            try store.close()
            let reader = TelemetryReader(pool: pool, timeZone: cfg.timezone)
            var tierFrom: [Tier: EpochMillis] = [:]
            for (tier, keep) in cfg.storage.rollupRetentionMillis { if let keep { tierFrom[tier] = now - keep } }
            report = try await RollupVerifier(source: reader, timeZone: cfg.timezone)
                .verify(from: horizon, tierFrom: tierFrom, maxReported: maxReport)
            if !noDerived && waiting == 0 {
                derived = try await DerivedCheck(history: StoredHistory(samples: RecentSamples(pool: pool)), reader: reader,
                                                 catalogue: catalogue, config: cfg.derived, timeZone: cfg.timezone,
                                                 skipsProvinceWide: cfg.partition != nil && cfg.storage.postgres != nil)
                    .run(from: horizon, maxReported: maxReport)
            }
        } catch {
            FileHandle.standardError.write(Data("collector verify: \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        printTiers(report, since: horizon)
        if let derived {
            print("verify: derived: \(derived.series) series, \(derived.points) recomputed readings, \(derived.mismatchCount) differ")
            for m in derived.mismatches { print("verify: MISMATCH derived \(m)") }
        } else if waiting > 0 && !noDerived {
            print("verify: derived: not compared: \(waiting) readings of a killed run wait for their derived series (the next start computes them)")
        }
        guard report.isExact, derived?.isExact ?? true else {
            let buckets = report.mismatchCount.values.reduce(0, +)
            print("verify: FAILED: \(buckets) buckets and \(derived?.mismatchCount ?? 0) derived readings differ from the recompute")
            throw ExitCode(1)
        }
        print(derived == nil ? "verify: OK: every tier equals its recompute from raw"
                             : "verify: OK: every tier and derived series equals its recompute from the stored readings")
    }

    /// The rollup tiers of a shared PostgreSQL store against their recompute from its raw
    /// readings, and its derived series against their replay from its inputs (what every
    /// collector of it stored; run it once they have all stopped, or expect the newest
    /// derived readings to be missing).
    private func verifyPostgres(_ url: String, _ cfg: CollectorConfig, _ catalogue: Catalogue) async throws {
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        let horizon = from.map { $0 * 1000 } ?? now - cfg.storage.rawKeepMillis
        var tierFrom: [Tier: EpochMillis] = [:]
        for (tier, keep) in cfg.storage.rollupRetentionMillis { if let keep { tierFrom[tier] = now - keep } }
        let report: RollupVerifier.Report
        var derived: DerivedVerifier.Report?
        var waiting = 0
        do {
            let store = try PostgresStore(url: url, timeZone: cfg.timezone)
            report = try await RollupVerifier(source: store, timeZone: cfg.timezone)
                .verify(from: horizon, tierFrom: tierFrom, maxReported: maxReport)
            if !noDerived {
                derived = try await DerivedCheck(history: PostgresHistory(store: store), reader: PostgresReader(store: store, timeZone: cfg.timezone),
                                                 catalogue: catalogue, config: cfg.derived, timeZone: cfg.timezone,
                                                 provinceApart: cfg.partition != nil)
                    .run(from: horizon, maxReported: maxReport)
                waiting = try store.changes().count
            }
        } catch {
            FileHandle.standardError.write(Data("collector verify: \(PostgresStore.redacted(url)): \(error)\n".utf8))
            throw ExitCode(1)
        }
        printTiers(report, since: horizon)
        if let derived {
            print("verify: derived: \(derived.series) series, \(derived.points) recomputed readings, \(derived.mismatchCount) differ")
            for m in derived.mismatches { print("verify: MISMATCH derived \(m)") }
            if waiting > 0 {
                print("verify: derived: \(waiting) scope members' changes wait for the province lease's holder: their zones, units, junctions, DMAs and transformers may differ until it runs")
            }
        }
        guard report.isExact, derived?.isExact ?? true else {
            print("verify: FAILED: \(report.mismatchCount.values.reduce(0, +)) buckets and \(derived?.mismatchCount ?? 0) derived readings differ from the recompute")
            throw ExitCode(1)
        }
        print(derived == nil ? "verify: OK: every tier equals its recompute from raw"
                             : "verify: OK: every tier and derived series equals its recompute from the stored readings")
    }

    private func printTiers(_ report: RollupVerifier.Report, since horizon: EpochMillis) {
        let since = Date(timeIntervalSince1970: Double(horizon) / 1000).formatted(.iso8601)
        print("verify: \(report.series) series, \(report.readings) raw readings since \(since)")
        if byMetric {
            for (metric, n) in report.readingsByMetric.sorted(by: { $0.key < $1.key }) {
                print("verify: metric \(metric): \(n) readings")
            }
        }
        for tier in Tier.allCases {
            let fromRaw = report.fromRaw[tier].map { ", \($0) series answered from raw" } ?? ""
            print("verify: \(tier): \(report.buckets[tier] ?? 0) buckets\(fromRaw), \(report.mismatchCount[tier] ?? 0) differ")
        }
        for m in report.mismatches { print("verify: MISMATCH \(m)") }
    }
}

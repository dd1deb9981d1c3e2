import Alerts
import ArgumentParser
import Foundation
import GRDB
import Telemetry

/// `collector import FILE...`: backfills the database from CSV (`series,time,value`), Influx
/// line protocol or SenML files, through the same store as live ingest: the same dedupe by
/// (series, time), exact rollups, and quarantine (a bad CSV or line-protocol line, or a bad
/// SenML file, goes to quarantine with its reason; the rest is stored). Safe to run twice.
/// With `--postgres URL` the readings go to a shared PostgreSQL store instead.
/// Run it with the daemon stopped (it refuses while another process holds the store's lock).
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Backfill from CSV (series,time,value), line protocol or SenML files, with a progress bar.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case auto, csv, influx, senml }

    @Argument(help: "Files to import (.csv, .lp/.influx/.txt, .json/.senml).") var files: [String]
    @Option(help: "Configuration file: storage path, accept_age, limits, time zone.") var config: String?
    @Option(help: "The SQLite file (default: the config's storage.path).") var db: String?
    @Option(help: "auto (by extension), csv, influx or senml.") var format: Format = .auto
    @Option(help: "Line-protocol timestamp unit: ns, us, ms or s.") var precision: String = "ns"
    @Option(help: "Readings per transaction.") var batch: Int = 50_000
    @Option(help: "Import into this shared PostgreSQL store (postgresql://...) instead of the SQLite file.") var postgres: String?

    func run() throws {
        let cfg: CollectorConfig
        let catalogue: Catalogue
        do {
            cfg = try ConfigLoader.load(path: config)
            catalogue = try ConfigLoader.catalogue(for: cfg)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        guard let prec = TimePrecision(rawValue: precision) else { throw ValidationError("--precision must be ns, us, ms or s") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        if let postgres {
            try importIntoPostgres(postgres, cfg, prec)
            return
        }
        let path = db ?? cfg.storage.path
        let lock: StoreLock
        do { lock = try StoreLock(databasePath: path) } catch let e as StoreLock.Held {
            FileHandle.standardError.write(Data("collector import: \(e); stop it first (two writers would disagree on series ids), or publish the readings over MQTT (collector simulate shows how)\n".utf8))
            throw ExitCode(1)
        } catch {
            FileHandle.standardError.write(Data("collector import: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { withExtendedLifetime(lock) {} }
        let store: TelemetryStore
        do {
            let pool = try TelemetryDatabase.open(path: path, durability: cfg.storage.durability, maxSizeBytes: cfg.storage.maxSizeBytes,
                                                  extraMigrations: AlertStore.registerMigrations)
            // The journal keeps the imported readings (and any a killed collector left) until a
            // collector has derived from them: the next start computes their derived series.
            // Only series that derive anything: the rest leaves the journal once stored.
            store = try TelemetryStore(pool: pool, timeZone: cfg.timezone, maxSeries: cfg.limits.maxSeries,
                                       quarantineLimit: cfg.storage.quarantineLimit, tracksDerived: true,
                                       feedsDerived: { DerivedSeries.feedsDerived(metric: $0.metric, entry: catalogue.sensor($0.sensor)) },
                                       rawHorizon: { [keep = cfg.storage.rawKeepMillis] in SystemWallClock().now() - keep })
        } catch {
            FileHandle.standardError.write(Data("collector import: cannot open \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let importer = try importFiles(Importer(target: .sqlite(store), config: cfg, precision: prec, batchSize: batch))
        do {
            // The last readings still pending go to their blocks before the process ends.
            try store.close(sealingRollupsBefore: EpochMillis(Date().timeIntervalSince1970 * 1000))
        } catch {
            FileHandle.standardError.write(Data("collector import: \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let t = importer.totals
        print("import: \(files.count) file(s): \(t.inserted) readings stored, \(t.duplicates) already there, \(t.quarantined) quarantined")
    }

    /// The same files into a shared PostgreSQL store. No lock: collectors writing beside the
    /// import are fine (each commit locks its series' rows; readings are deduplicated by key).
    /// With partitions (`partition` in the config), the meters' readings are noted for the
    /// province lease's holder, as the collectors' commits are (`SharedScopes.tracks`).
    private func importIntoPostgres(_ url: String, _ cfg: CollectorConfig, _ prec: TimePrecision) throws {
        let store: PostgresStore
        do {
            store = try PostgresStore(url: url, timeZone: cfg.timezone, quarantineLimit: cfg.storage.quarantineLimit,
                                      tracks: cfg.partition == nil ? nil : SharedScopes.tracks)
        } catch {
            FileHandle.standardError.write(Data("collector import: \(PostgresStore.redacted(url)): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let importer = try importFiles(Importer(target: .postgres(store), config: cfg, precision: prec, batchSize: batch))
        let t = importer.totals
        print("import: \(files.count) file(s) into PostgreSQL: \(t.inserted) readings stored, \(t.duplicates) already there, \(t.quarantined) quarantined")
    }

    /// Every file through `importer`, in order; the first that fails ends the import (exit 1).
    private func importFiles(_ importer: Importer) throws -> Importer {
        var importer = importer
        for file in files {
            do {
                try importer.importFile(file, format: format == .auto ? Self.detect(file) : format)
            } catch {
                FileHandle.standardError.write(Data("collector import: \(file): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        return importer
    }

    static func detect(_ file: String) -> Format {
        switch (file as NSString).pathExtension.lowercased() {
        case "csv": .csv
        case "json", "senml": .senml
        default: .influx
        }
    }
}

import Alerts
import ArgumentParser
import Foundation
import GRDB
import Telemetry

/// `collector import FILE...`: backfills the database from CSV (`series,time,value`), Influx
/// line protocol or SenML files, through the same store as live ingest: the same dedupe by
/// (series, time), exact rollups, and quarantine (a bad CSV or line-protocol line, or a bad
/// SenML file, goes to quarantine with its reason; the rest is stored). Safe to run twice.
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
                                       feedsDerived: { DerivedSeries.feedsDerived(metric: $0.metric, entry: catalogue.sensor($0.sensor)) })
        } catch {
            FileHandle.standardError.write(Data("collector import: cannot open \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        var importer = Importer(store: store, config: cfg, precision: prec, batchSize: batch)
        for file in files {
            do {
                try importer.importFile(file, format: format == .auto ? Self.detect(file) : format)
            } catch {
                FileHandle.standardError.write(Data("collector import: \(file): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
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

    static func detect(_ file: String) -> Format {
        switch (file as NSString).pathExtension.lowercased() {
        case "csv": .csv
        case "json", "senml": .senml
        default: .influx
        }
    }
}

/// Reads files into the store in batches, with a progress bar on a terminal.
struct Importer {
    let store: TelemetryStore
    let config: CollectorConfig
    let precision: TimePrecision
    let batchSize: Int
    private(set) var totals: (inserted: Int, duplicates: Int, quarantined: Int) = (0, 0, 0)
    private var batch = IngestBatch()
    private var pending: [Reading] = []
    private let decoder = PayloadDecoder()
    private let tty = isatty(2) != 0
    private var lastProgress = ContinuousClock.now

    init(store: TelemetryStore, config: CollectorConfig, precision: TimePrecision, batchSize: Int) {
        self.store = store
        self.config = config
        self.precision = precision
        self.batchSize = batchSize
    }

    mutating func importFile(_ file: String, format: ImportCommand.Format) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        var context = DecodeContext(topic: "import/\((file as NSString).lastPathComponent)", now: now,
                                    acceptAge: config.storage.acceptAgeMillis, maxReadings: config.limits.maxReadingsPerMessage)
        context.precision = precision
        if format == .senml {
            // One pack: stored whole or quarantined whole, like one message.
            var out: [Reading] = []
            do {
                _ = try data.withUnsafeBytes { try decoder.decode($0, format: .senml, context: context, into: &out) }
                try add(out)
            } catch let e as DecodeError {
                quarantine(context.topic, e, Array(data.prefix(1024)), now: now)
            }
            try flush(now: now)
            progress(file, done: data.count, of: data.count, final: true)
            return
        }
        // Lines found with memchr in the file's bytes; one reusable buffer for a line's
        // readings; a line's quarantine topic is only built when it is quarantined.
        var out: [Reading] = []
        try data.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
            guard let base = all.baseAddress else { return }
            var lineNo = 0
            var start = 0
            while start <= all.count {
                let rest = all.count - start
                let end = memchr(base + start, 0x0A, rest).map { base.distance(to: UnsafeRawPointer($0)) } ?? all.count
                lineNo += 1
                defer { start = end + 1 }
                var stop = end
                if stop > start, all[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
                let text = UnsafeRawBufferPointer(start: base + start, count: stop - start)
                var blank = true
                for k in 0..<text.count where text[k] != 0x20 && text[k] != 0x09 {
                    blank = false
                    break
                }
                if blank { continue }
                do {
                    if format == .csv {
                        if lineNo == 1, text.starts(with: Array("series".utf8)) { continue }   // a header
                        try add([try Self.csvReading(Array(text), context: context)])
                    } else {
                        out.removeAll(keepingCapacity: true)
                        _ = try decoder.decode(text, format: .influx, context: context, into: &out)
                        try add(out)
                    }
                } catch let e as DecodeError {
                    quarantine("\(context.topic):\(lineNo)", e, Array(text.prefix(1024)), now: now)
                }
                if pending.count >= batchSize { try flush(now: now) }
                progress(file, done: end, of: all.count, final: false)
            }
        }
        try flush(now: now)
        progress(file, done: data.count, of: data.count, final: true)
    }

    /// `series,time,value`: series `sensor/metric`; time epoch seconds or milliseconds, or RFC 3339.
    static func csvReading(_ line: [UInt8], context: DecodeContext) throws(DecodeError) -> Reading {
        let fields = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count == 3 else { throw DecodeError("bad_csv", "expected series,time,value, got \(fields.count) field(s)") }
        let name = fields[0].split(separator: "/", maxSplits: 1)
        guard name.count == 2, let series = try? SeriesName(sensor: String(name[0]), metric: String(name[1])) else {
            throw DecodeError("bad_name", "'\(fields[0])' is not sensor/metric")
        }
        guard let t = Double(fields[1]).flatMap(TimestampParser.epoch) ?? TimestampParser.rfc3339(fields[1]) else {
            throw DecodeError("bad_time", "'\(fields[1])' is neither epoch seconds, epoch milliseconds nor RFC 3339")
        }
        guard t >= context.now - context.acceptAge, t <= context.now + context.maxFuture else {
            throw DecodeError("time_out_of_range", "\(fields[1]) is outside accept_age (now - \(context.acceptAge / 86_400_000) d ... now + 5 min)")
        }
        guard let v = Double(fields[2]), v.isFinite else { throw DecodeError("bad_value", "'\(fields[2])' is not a finite number") }
        return Reading(series: series, time: t, value: v)
    }

    private mutating func add(_ rs: [Reading]) throws {
        pending += rs
    }

    private mutating func quarantine(_ topic: String, _ e: DecodeError, _ payload: [UInt8], now: EpochMillis) {
        batch.quarantine.append(QuarantineRecord(received: now, topic: topic, reason: e.reason, detail: e.detail, payload: payload))
    }

    private mutating func flush(now: EpochMillis) throws {
        guard !pending.isEmpty || !batch.quarantine.isEmpty else { return }
        if !store.bind(pending, into: &batch) {
            throw DecodeError("series_limit", "limits.max_series reached")
        }
        pending.removeAll(keepingCapacity: true)
        let stats = try store.commit(batch, now: now)
        totals.inserted += stats.inserted
        totals.duplicates += stats.duplicates
        totals.quarantined += batch.quarantine.count
        batch.removeAll()
    }

    private mutating func progress(_ file: String, done: Int, of total: Int, final: Bool) {
        guard tty, final || ContinuousClock.now - lastProgress > .milliseconds(200) else { return }
        lastProgress = .now
        let pct = total == 0 ? 100 : done * 100 / total
        let bar = String(repeating: "#", count: pct / 5) + String(repeating: "-", count: 20 - pct / 5)
        let name = (file as NSString).lastPathComponent
        FileHandle.standardError.write(Data("\r\(name) [\(bar)] \(pct)%  \(totals.inserted + pending.count) readings\(final ? "\n" : "")".utf8))
    }
}

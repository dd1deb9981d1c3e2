import Alerts
import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
import Hummingbird
import Logging
import Prometheus
import Telemetry

/// `collector query`: what analysts ask, as a table, CSV or JSON. It talks to a running
/// collector over HTTP (`--url`, `--token`), or, when the daemon is down, reads the SQLite file
/// read-only (`--db`) through the same API code, served in-process on a loopback port.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Rollups, raw readings, alerts or coverage, as a table, CSV or JSON.",
        discussion: """
            Examples:
              collector query rollups --series ft-mt-0001/temp_c --step 1h --last 24h
              collector query rollups --metric temp_c --kind forest --group-by district --agg max --step 1d --last 7d --format csv
              collector query coverage --level district
              collector query raw --series hy-lc-0001/level_m --from=-6h --points 200
              collector query alerts --state firing
              collector query coverage --db data/collector.sqlite --config collector.yaml
            Times: epoch seconds, RFC 3339, or relative to now as --from=-24h (note the =).
            """)

    enum What: String, ExpressibleByArgument, CaseIterable { case rollups, raw, alerts, coverage }
    enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv, json }

    @Argument(help: "rollups, raw, alerts or coverage") var what: What
    @Option(help: "Configuration file (the HTTP address, and the catalogue and time zone for --db).") var config: String?
    @Option(help: "A running collector, e.g. http://127.0.0.1:8080 (default: the config's http.listen).") var url: String?
    @Option(help: "Bearer token (or the COLLECTOR_TOKEN environment variable).") var token: String?
    @Option(help: "Read this SQLite file directly, read-only, instead of asking a running collector.") var db: String?
    @Option(help: "Read this shared PostgreSQL store (postgresql://...) directly (rollups, raw and coverage; not alerts).") var postgres: String?
    @Option(help: "One series, sensor/metric.") var series: String?
    @Option(help: "Grouped rollups: the metric.") var metric: String?
    @Option(help: "Grouped rollups: only this kind.") var kind: String?
    @Option(help: "Grouped rollups: only this unit (commune or ward).") var unit: String?
    @Option(help: "Grouped rollups: only this group of the catalogue's district level (a former district).") var district: String?
    @Option(name: .customLong("group-by"), help: "Grouped rollups: unit, a level the catalogue declares (district), kind or sensor.") var groupBy: String?
    @Option(help: "Grouped rollups: avg, sum, min, max or count.") var agg: String?
    @Option(help: "Rollup step: 1m, 15m, 1h, 1d, or a multiple (5m, 6h, 7d).") var step = "1h"
    @Option(help: "One series' rollups: only these values, e.g. avg or min,avg,max (count, sum, min, max, avg, first, last).") var fields: String?
    @Option(help: "Start: epoch seconds, RFC 3339, or --from=-24h.") var from: String?
    @Option(help: "End (default now).") var to: String?
    @Option(help: "The last DURATION up to now, e.g. 24h or 7d (instead of --from).") var last: String?
    @Option(help: "raw: visual downsampling to at most N points.") var points: Int?
    @Option(help: "alerts: live, pending, firing, resolved or all.") var state: String?
    @Option(help: "coverage: one indicator.") var indicator: String?
    @Option(help: "coverage: one scope (province, a unit or a group).") var scope: String?
    @Option(help: "coverage: unit (default) or a level the catalogue declares (district).") var level: String?
    @Option(help: "table, csv or json.") var format: Format = .table

    func run() async throws {
        let cfg: CollectorConfig
        do { cfg = try ConfigLoader.load(path: config) } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        let path = try apiPath(now: now)
        let body: Data
        do {
            if let postgres {
                body = try await LocalAPI.get(path, postgres: postgres, config: cfg)
            } else if let db {
                body = try await LocalAPI.get(path, db: db, config: cfg)
            } else {
                let base = url ?? "http://\(cfg.http.host.contains(":") ? "[\(cfg.http.host)]" : cfg.http.host):\(cfg.http.port)"
                body = try await Self.get(base + path, token: token ?? ProcessInfo.processInfo.environment["COLLECTOR_TOKEN"])
            }
        } catch let e as QueryError {
            FileHandle.standardError.write(Data("collector query: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
        if format == .json {
            FileHandle.standardOutput.write(body)
            print()
            return
        }
        let (columns, rows) = try Self.rows(what, body)
        print(format == .csv ? Self.csv(columns, rows) : Self.table(columns, rows), terminator: "")
    }

    /// The API path with its query.
    func apiPath(now: EpochMillis) throws -> String {
        var q: [(String, String)] = []
        func time(_ s: String, _ name: String) throws -> String {
            if s.hasPrefix("-"), let ms = DurationText.millis(String(s.dropFirst())) { return String((now - ms) / 1000) }
            return s
        }
        if let last {
            guard let ms = DurationText.millis(last) else { throw ValidationError("--last: bad duration '\(last)' (e.g. 24h, 7d)") }
            q.append(("from", String((now - ms) / 1000)))
        } else if let from {
            q.append(("from", try time(from, "from")))
        }
        if let to { q.append(("to", try time(to, "to"))) }
        switch what {
        case .rollups:
            if let series {
                q += [("series", series), ("step", step)]
                if let fields { q.append(("fields", fields)) }
            } else if let metric {
                q += [("metric", metric), ("step", step), ("group_by", groupBy ?? "unit"), ("agg", agg ?? "avg")]
                if let kind { q.append(("kind", kind)) }
                if let unit { q.append(("unit", unit)) }
                if let district { q.append(("district", district)) }
            } else {
                throw ValidationError("rollups need --series, or --metric (with --group-by, --agg, --kind, --unit, --district)")
            }
            if q.first(where: { $0.0 == "from" }) == nil { q.append(("from", String((now - 86_400_000) / 1000))) }
            return "/api/v1/rollups?" + Self.encode(q)
        case .raw:
            guard let series else { throw ValidationError("raw needs --series") }
            q.append(("series", series))
            if let points { q.append(("points", String(points))) }
            if q.first(where: { $0.0 == "from" }) == nil { q.append(("from", String((now - 3_600_000) / 1000))) }
            return "/api/v1/raw?" + Self.encode(q)
        case .alerts:
            return "/api/v1/alerts?" + Self.encode([("state", state ?? "live")])
        case .coverage:
            var c: [(String, String)] = []
            if let indicator { c.append(("indicator", indicator)) }
            if let scope { c.append(("scope", scope)) }
            if let level { c.append(("level", level)) }
            return "/api/v1/coverage" + (c.isEmpty ? "" : "?" + Self.encode(c))
        }
    }

    static func encode(_ q: [(String, String)]) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+")
        return q.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }

    struct QueryError: Error { let message: String }

    static func get(_ url: String, token: String?) async throws -> Data {
        guard let u = URL(string: url) else { throw QueryError(message: "bad URL \(url)") }
        var r = URLRequest(url: u, timeoutInterval: 60)
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, resp): (Data, URLResponse)
        do { (data, resp) = try await URLSession.shared.data(for: r) } catch {
            throw QueryError(message: "cannot reach \(u.host ?? url): \(error.localizedDescription) (is the collector running? --db reads the file instead)")
        }
        let status = (resp as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else { throw QueryError(message: "HTTP \(status): \(String(decoding: data, as: UTF8.self))") }
        return data
    }

    // MARK: Output

    static func rows(_ what: What, _ body: Data) throws -> ([String], [[String]]) {
        let json = try JSONSerialization.jsonObject(with: body)
        func cell(_ v: Any?) -> String {
            switch v {
            case let n as NSNumber: return "\(n)"
            case let s as String: return s
            case let b as Bool: return b ? "true" : "false"
            default: return ""
            }
        }
        func time(_ v: Any?) -> String {
            guard let t = (v as? NSNumber)?.doubleValue else { return "" }
            return Date(timeIntervalSince1970: t).formatted(.iso8601)
        }
        let o = json as? [String: Any]
        switch what {
        case .rollups where o?["groups"] != nil:
            var rows: [[String]] = []
            for g in (o?["groups"] as? [[String: Any]]) ?? [] {
                for p in (g["points"] as? [[String: Any]]) ?? [] { rows.append([cell(g["key"]), time(p["t"]), cell(p["value"])]) }
            }
            return (["key", "t", cell(o?["agg"])], rows)
        case .rollups:
            let points = (o?["points"] as? [[String: Any]]) ?? []
            let cols = ["count", "avg", "min", "max", "sum", "first", "last"].filter { c in points.first.map { $0[c] != nil } ?? true }
            return (["t"] + cols, points.map { p in [time(p["t"])] + cols.map { cell(p[$0]) } })
        case .raw:
            return (["t", "value"], ((o?["points"] as? [[String: Any]]) ?? []).map { [time($0["t"]), cell($0["value"])] })
        case .alerts:
            let cols = ["id", "state", "severity", "rule", "subject", "since", "acknowledged", "summary"]
            return (cols, ((json as? [[String: Any]]) ?? []).map { a in
                cols.map { c in
                    switch c {
                    case "since": time(a[c])
                    case "acknowledged": (a[c] as? NSNumber)?.boolValue == true ? "yes" : "no"
                    default: cell(a[c])
                    }
                }
            })
        case .coverage:
            let cols = ["indicator", "scope", "value_pct", "target_pct", "target_year", "numerator", "denominator"]
            return (cols, ((json as? [[String: Any]]) ?? []).map { c in cols.map { cell(c[$0]) } })
        }
    }

    /// RFC 4180 quoting (lines end in LF), text cells neutralised against spreadsheet
    /// formulas (`CSVText`).
    static func csv(_ columns: [String], _ rows: [[String]]) -> String {
        ([columns] + rows).map { $0.map(CSVText.cell).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    static func table(_ columns: [String], _ rows: [[String]]) -> String {
        let widths = columns.indices.map { i in ([columns] + rows).map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, v in v.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(columns), rule] + rows.map(line)).joined(separator: "\n") + "\n" + "(\(rows.count) rows)\n"
    }
}

/// The HTTP API over a SQLite file opened read-only, or over a shared PostgreSQL store, served
/// in-process on a loopback port for one request: `collector query --db` (`--postgres`) gives
/// exactly the answers a running collector on that store would.
enum LocalAPI {
    static func get(_ path: String, db: String, config: CollectorConfig) async throws -> Data {
        guard FileManager.default.fileExists(atPath: db) else { throw QueryCommand.QueryError(message: "no such file: \(db)") }
        let pool: DatabasePool
        do { pool = try TelemetryDatabase.openReadOnly(path: db) } catch {
            throw QueryCommand.QueryError(message: "cannot open \(db) read-only: \(error)")
        }
        return try await serve(path, reader: TelemetryReader(pool: pool, timeZone: config.timezone), alerts: AlertStore(pool: pool),
                               config: config)
    }

    static func get(_ path: String, postgres url: String, config: CollectorConfig) async throws -> Data {
        let store: PostgresStore
        do { store = try PostgresStore(url: url, timeZone: config.timezone, readOnly: true) } catch {
            throw QueryCommand.QueryError(message: "\(PostgresStore.redacted(url)): \(error)")
        }
        return try await serve(path, reader: PostgresReader(store: store, timeZone: config.timezone),
                               alerts: PostgresAlertStore(store: store, owner: "", origin: "query"), config: config)
    }

    private static func serve(_ path: String, reader: any TelemetryQueries, alerts: any AlertRecords, config: CollectorConfig) async throws -> Data {
        let catalogue = (try? ConfigLoader.catalogue(for: config)) ?? Catalogue()
        let live = LiveCatalogue(catalogue, rules: [])
        let clock = SystemWallClock()
        let router = Router()
        APIRoutes(reader: reader, live: live, status: CollectorStatus(), metrics: PrometheusCollectorRegistry(), clock: clock).register(on: router)
        CatalogueRoutes(reader: reader, live: live, coverage: config.coverage, timeZone: config.timezone, clock: clock).register(on: router)
        AlertRoutes(store: alerts, broadcaster: AlertBroadcaster(), system: SystemAlerts(), clock: clock, live: live).register(on: router)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "collector-query")
        logger.logLevel = .critical   // the cancelled server's goodbye is not news
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "collector-query"),
                              onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next(), port > 0 else { throw QueryCommand.QueryError(message: "cannot serve the file locally") }
        return try await QueryCommand.get("http://127.0.0.1:\(port)\(path)", token: nil)
    }
}

import Alerts
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Prometheus
import Telemetry
import UnixSignals

/// `collector serve --postgres URL`: the HTTP API and dashboard, read-only, over a shared
/// PostgreSQL store, perhaps a streaming replica. It answers from what every collector of
/// the database has committed; no MQTT, no writes. Alerts are listed (`GET /api/v1/alerts`,
/// `/api/v1/alert-groups`), not acknowledged, and there is no live stream. On a standby, `/readyz` fails while it does not stream from
/// the primary or lags more than `--max-lag`. SIGHUP reads the tokens file and the catalogue
/// again.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API and dashboard read-only over a shared PostgreSQL store (a replica will do).",
        discussion: """
            Answers hold every commit the server has applied: on the primary, every commit that
            returned; on a synchronous standby with synchronous_commit = remote_apply, the same;
            on an asynchronous standby, what replication has brought so far.
            """)

    @Option(help: "Configuration file: http (listen, tokens_file), the catalogue, the time zone.") var config: String?
    @Option(help: "The store, postgresql://... (target_session_attrs=any or prefer-standby reads a replica).") var postgres: String
    @Option(name: .long, help: "Write the HTTP port to this file once it listens.") var portFile: String?
    @Option(help: "Connections to PostgreSQL, each answering one query at a time (1...32).") var connections = 4
    @Option(name: .customLong("max-lag"), help: "On a standby: /readyz fails when it does not stream from the primary or is this far behind (e.g. 30s).")
    var maxLag = "30s"

    func run() async throws {
        let cfg: CollectorConfig
        let catalogue: Catalogue
        let access: AccessControl?
        do {
            cfg = try ConfigLoader.load(path: config)
            catalogue = try ConfigLoader.catalogue(for: cfg)
            if let f = cfg.http.tokensFile {
                access = try AccessControl.load(path: f, openMetrics: cfg.http.openMetrics)
            } else {
                access = nil
            }
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        guard (1...32).contains(connections) else { throw ValidationError("--connections must be 1...32") }
        guard let lagMillis = DurationText.millis(maxLag), lagMillis > 0 else { throw ValidationError("--max-lag: bad duration '\(maxLag)' (e.g. 30s, 2m)") }
        HTTPStack.bootstrapLogging(cfg.logLevel)
        let logger = Logger(label: "collector-serve")
        let stores: [PostgresStore]
        do {
            stores = try (0..<connections).map { _ in try PostgresStore(url: postgres, timeZone: cfg.timezone, readOnly: true) }
        } catch {
            FileHandle.standardError.write(Data("collector serve: \(PostgresStore.redacted(postgres)): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let reader = PostgresReader(stores: stores, timeZone: cfg.timezone, maxLagSeconds: Double(lagMillis) / 1000)
        let clock = SystemWallClock()
        let live = LiveCatalogue(catalogue, rules: [])
        let status = CollectorStatus()
        status.mqtt(connected: false, "none: read-only over PostgreSQL", standby: true)
        let registry = PrometheusCollectorRegistry()
        let (router, liveAccess) = HTTPStack.router(registry: registry, access: access, host: cfg.http.host,
                                                    openWarning: "anyone who reaches it can read", logger: logger)
        APIRoutes(reader: reader, live: live, status: status, metrics: registry, clock: clock).register(on: router)
        CatalogueRoutes(reader: reader, live: live, coverage: cfg.coverage, timeZone: cfg.timezone, clock: clock).register(on: router)
        // The alerts every collector stored: lists only (no acknowledgement, no live stream: a
        // standby takes no writes and cannot LISTEN).
        var alertRoutes = AlertRoutes(store: PostgresAlertStore(store: stores[stores.count - 1], owner: "", origin: "serve"),
                                      broadcaster: AlertBroadcaster(), system: SystemAlerts(), clock: clock, live: live)
        alertRoutes.readOnly = true
        alertRoutes.register(on: router)
        DashboardRoutes().register(on: router)
        // SIGHUP: the tokens file and the catalogue read again (a removed token stops working
        // at once); a file with a problem leaves what is in force, and the problem is logged.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let configPath = config
        let reloader = Task {
            for await _ in hangups {
                Self.reload(configPath: configPath, running: cfg, access: liveAccess, live: live, logger: logger)
            }
        }
        defer { reloader.cancel() }
        let portFile = self.portFile
        if let portFile { PortFile.remove(portFile) }
        defer { if let portFile { PortFile.remove(portFile) } }
        let app = HTTPStack.application(router: router, http: cfg.http, registry: registry, serverName: "collector-serve",
                                        portFile: portFile, logger: logger)
        try await app.runService()
    }

    /// One SIGHUP: everything read first, then replaced together, or nothing.
    static func reload(configPath: String?, running: CollectorConfig, access: LiveAccess?, live: LiveCatalogue, logger: Logger) {
        do {
            let fresh = try configPath.map { path throws(ConfigProblems) in try ConfigLoader.load(path: path, refusingEmpty: true) }
            let catalogue = try ConfigLoader.catalogue(for: running)
            let tokens = try ReloadService.tokens(fresh: fresh, running: running, inForce: access != nil)
            if let tokens { access?.replace(tokens) }
            live.replace(catalogue, rules: [])
            logger.notice("reloaded the catalogue and tokens", metadata: [
                "sensors": "\(catalogue.sensors.count)", "tokens": "\(tokens.map { "\($0.tokens.count)" } ?? "none (no tokens file at start)")",
            ])
            // (A tokens file added or removed, a new listen address...: at the next start.)
            if let fresh {
                let pending = ReloadService.restartNeeded(running: running, file: fresh, tokensInForce: access != nil)
                if !pending.isEmpty {
                    logger.warning("configuration changes that need a restart to take effect", metadata: ["keys": "\(pending.joined(separator: ", "))"])
                }
            }
        } catch {
            logger.error("reload refused; keeping the catalogue and tokens in force", metadata: ["problems": "\(error.description)"])
        }
    }
}

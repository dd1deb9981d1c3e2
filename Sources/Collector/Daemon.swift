import Foundation
import GRDB
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Telemetry
import Alerts

/// Wires the daemon together: storage, the ingest loop, HTTP, in one ServiceGroup that
/// shuts down gracefully on SIGTERM/SIGINT.
///
///     MQTT, HTTP writes --(IngestLoop: decode, bind)--> [PostgresStore.commit -->] TelemetryStore.commit --> SQLite
///                                              |        TelemetryReader (or PostgresReader) <-- HTTP API
///                                              v
///                   AlertWorker (own thread): AlertStage, DerivedSeries --> MQTT alerts, SSE, notifiers
struct Daemon {
    let config: CollectorConfig
    let catalogue: Catalogue
    let rules: [Rule]
    var access: AccessControl?
    /// The config file, read again on SIGHUP (`storage.max_size`).
    var configPath: String?
    /// Where to write the HTTP port once the server listens (`run --port-file`).
    var portFile: String?
    let logger: Logger
    var clock: any WallClock = SystemWallClock()

    func run() async throws {
        // One writer per store: a second daemon, or an import, on the same file is refused.
        let lock: StoreLock
        do {
            lock = try StoreLock(databasePath: config.storage.path)
        } catch {
            throw StartupError("cannot take storage '\(config.storage.path)': \(error)")
        }
        defer { withExtendedLifetime(lock) {} }
        // A port file left by a killed run must not be read as this run's.
        if let portFile { PortFile.remove(portFile) }
        let pool: DatabasePool
        do {
            pool = try TelemetryDatabase.open(path: config.storage.path, durability: config.storage.durability,
                                              maxSizeBytes: config.storage.maxSizeBytes,
                                              extraMigrations: AlertStore.registerMigrations)
        } catch {
            throw StartupError("cannot open storage '\(config.storage.path)': \(error)")
        }
        let checkpointer: WALCheckpointer
        do {
            checkpointer = try WALCheckpointer(path: config.storage.path)
        } catch {
            throw StartupError("cannot open storage '\(config.storage.path)': \(error)")
        }
        checkpointer.start()
        defer { checkpointer.stop() }
        let store: TelemetryStore
        do {
            store = try TelemetryStore(pool: pool, timeZone: config.timezone,
                                       maxSeries: config.limits.maxSeries, quarantineLimit: config.storage.quarantineLimit,
                                       tracksDerived: true,
                                       rawHorizon: { [clock, keep = config.storage.rawKeepMillis] in clock.now() - keep })
        } catch {
            throw StartupError("cannot load series from '\(config.storage.path)': \(error)")
        }
        // After the ingest loop has stopped: the merger's last deltas, then its thread.
        defer { try? store.close() }
        let registry = PrometheusCollectorRegistry()
        let metrics = IngestMetrics(registry: registry)
        let status = CollectorStatus()
        let reader = TelemetryReader(pool: pool, timeZone: config.timezone, pending: store.rawPending)
        // The shared store: one connection for the ingest loop's commits, two for the API's
        // reads, one for the alert worker's (coverage over the province), one for retention and
        // federation's progress, two for alerts (the worker's changes, the API's lists and
        // acknowledgements), one for the province's scopes and one listening for other
        // collectors' alert changes: a slow query or a long delete never holds up the commits.
        var shared: PostgresStore?
        var sharedReads: PostgresStore?
        var maintenance: PostgresStore?
        var queries: any TelemetryQueries = reader
        // Alerts: in the file, or in the shared store (one connection for the alert worker's
        // changes, one for the API's lists and acknowledgements).
        var alertRecords: any AlertRecords = AlertStore(pool: pool)
        var apiAlerts = alertRecords
        // This process in the shared store's alert announcements (it skips its own).
        let origin = UUID().uuidString
        if let url = config.storage.postgres {
            do {
                // A server that does not answer yet does not stop the start: every commit fails
                // (nothing is acknowledged, /readyz says why) until it does. A store it refuses
                // (another time zone or schema version) does.
                var connectNow = true
                // With partitions, the province's holder computes the scopes' maxima from
                // what every partition stores: the members' changes are noted for it.
                let tracked: (@Sendable (SeriesName) -> Bool)? = config.partition == nil ? nil : SharedScopes.tracks
                do {
                    shared = try PostgresStore(url: url, timeZone: config.timezone, quarantineLimit: config.storage.quarantineLimit,
                                               tracks: tracked)
                } catch let e as PostgresConnection.Failure where e.lostConnection {
                    logger.warning("the shared store does not answer; starting without it: no commit succeeds (nothing is acknowledged) until it does",
                                   metadata: ["store": "\(PostgresStore.redacted(url))", "error": "\(e)"])
                    connectNow = false
                    shared = try PostgresStore(url: url, timeZone: config.timezone, quarantineLimit: config.storage.quarantineLimit,
                                               connectNow: false, tracks: tracked)
                }
                func reading() throws -> PostgresStore {
                    try PostgresStore(url: url, timeZone: config.timezone, readOnly: true, connectNow: connectNow)
                }
                queries = PostgresReader(stores: [try reading(), try reading()], timeZone: config.timezone)
                sharedReads = try reading()
                maintenance = try PostgresStore(url: url, timeZone: config.timezone, connectNow: connectNow)
                // The alerts this collector's engine answers for: its partition's (whichever
                // member holds it), or its own without partitions.
                let owner = config.partition?.name ?? config.mqtt.clientID
                // Each change goes to the other collectors' live streams as it was announced here.
                let announce: @Sendable (Alert) -> String = { String(decoding: AlertJSON.encode($0).bytes, as: UTF8.self) }
                alertRecords = PostgresAlertStore(store: try PostgresStore(url: url, timeZone: config.timezone, connectNow: connectNow),
                                                  owner: owner, origin: origin, provinceWide: config.partition != nil, announce: announce)
                apiAlerts = PostgresAlertStore(store: try PostgresStore(url: url, timeZone: config.timezone, connectNow: connectNow),
                                               owner: owner, origin: origin, provinceWide: config.partition != nil, announce: announce)
            } catch {
                throw StartupError("cannot open the shared store \(PostgresStore.redacted(url)): \(error)")
            }
        }
        // A collector that ran on its file before: the file's live alerts move to the shared
        // store (those whose rule and subject are live there already stay with the store's).
        if shared != nil, let moved = alertRecords as? PostgresAlertStore {
            let file = AlertStore(pool: pool)
            do {
                let live = try file.live()
                if !live.isEmpty {
                    let taken = try moved.takeOver(live, source: config.mqtt.clientID, now: clock.now())
                    try file.forgetLive()
                    logger.notice("live alerts of the file moved to the shared store", metadata: ["alerts": "\(live.count)", "taken": "\(taken)"])
                }
            } catch {
                logger.warning("cannot move the file's live alerts to the shared store yet; trying again at the next start",
                               metadata: ["error": "\(error)"])
            }
        }
        let engine: AlertEngine
        do {
            // (From a shared store, the live alerts are adopted when this collector first
            // holds its partition: `AlertStage.resumed`.)
            engine = AlertEngine(rules: rules, catalogue: catalogue, restored: shared == nil ? try alertRecords.live() : [],
                                 lastSeen: try await reader.sensorsLastSeen(), now: clock.now(), language: config.language)
        } catch {
            throw StartupError("cannot load alerts from '\(config.storage.path)': \(error)")
        }
        let sseDropped = registry.makeCounter(descriptor: IngestMetrics.named("collector_notifications_total", "Alert notifications by target and outcome"),
                                              labels: [("kind", "sse"), ("url", "/api/v1/alerts/stream"), ("outcome", "dropped_queue_full")])
        let broadcaster = AlertBroadcaster(onDrop: { sseDropped.increment() })
        let alerts = AlertStage(engine: engine, store: alertRecords, catalogue: catalogue, coverage: config.coverage, derived: config.derived,
                                timeZone: config.timezone, logger: logger)
        alerts.broadcaster = broadcaster
        alerts.sharedAlerts = shared != nil
        // Coverage counts every collector's sensors, not only this one's.
        if let sharedReads { alerts.sharedLastSeen = { try sharedReads.sensorsLastSeen() } }
        // Zone, unit and junction maxima over every partition, by the province's holder.
        if let url = config.storage.postgres, config.partition != nil {
            do {
                alerts.sharedScopes = SharedScopes(store: try PostgresStore(url: url, timeZone: config.timezone, connectNow: false))
            } catch {
                throw StartupError("cannot open the shared store \(PostgresStore.redacted(url)): \(error)")
            }
        }
        let system = SystemAlerts()
        alerts.system = system
        let live = LiveCatalogue(catalogue, rules: rules)
        let notifiers = Notifiers(config: config.notify, catalogue: live, instance: config.mqtt.clientID,
                                  registry: registry, logger: logger)
        alerts.notifiers = notifiers
        let writes = HTTPWrites()
        let loop: IngestLoop
        do {
            loop = try IngestLoop(config: config, catalogue: catalogue, store: store, alerts: alerts, status: status,
                                  metrics: metrics, clock: clock, logger: logger, writes: writes, shared: shared, maintenance: maintenance)
        } catch let e as StartupError {
            throw e
        } catch {
            throw StartupError("cannot set up MQTT: \(error)")
        }

        let (router, liveAccess) = HTTPStack.router(registry: registry, access: access, host: config.http.host,
                                                    openWarning: "anyone who reaches it can read, acknowledge and write", logger: logger)
        APIRoutes(reader: queries, live: live, status: status, metrics: registry, clock: clock).register(on: router)
        CatalogueRoutes(reader: queries, live: live, coverage: config.coverage, timeZone: config.timezone,
                        clock: clock).register(on: router)
        AlertRoutes(store: apiAlerts, broadcaster: broadcaster, system: system, clock: clock, live: live).register(on: router)
        WriteRoutes(writes: writes, maxPayloadBytes: config.limits.maxPayloadBytes).register(on: router)
        DashboardRoutes().register(on: router)
        let app = HTTPStack.application(router: router, http: config.http, registry: registry, serverName: "collector",
                                        portFile: portFile, logger: logger)
        let remoteWriters: [ServiceGroupConfiguration.ServiceConfiguration] = config.remoteWrite.map { t in
            // Over a shared store: the whole province, by the province lease's holder, from
            // where the last sender stopped.
            .init(service: RemoteWriter(target: t, reader: shared == nil ? reader : queries, timeZone: config.timezone, live: live,
                                        acceptAgeMillis: config.storage.acceptAgeMillis,
                                        watermarks: maintenance.map { .shared($0, key: RemoteWriter.stateKey(url: t.url, tier: t.tier)) }
                                            ?? .file(RemoteWriter.statePath(storage: config.storage.path, url: t.url, tier: t.tier)),
                                        clock: clock, logger: logger, metrics: RemoteWriter.Metrics(registry: registry, url: t.url),
                                        active: { loop.federates }),
                  successTerminationBehavior: .ignore)
        }
        let group = ServiceGroup(configuration: .init(
            services: remoteWriters + [
                .init(service: IngestService(loop: loop), successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: notifiers, successTerminationBehavior: .ignore),
                .init(service: ReloadService(config: config, configPath: configPath, live: live, access: liveAccess,
                                                             loop: loop, logger: logger), successTerminationBehavior: .ignore),
            ] + (config.storage.postgres.map { url in
                // Other collectors' alert changes, into this one's stream.
                [.init(service: AlertFeed(url: url, timeZone: config.timezone, origin: origin, broadcaster: broadcaster, logger: logger),
                       successTerminationBehavior: .ignore)]
            } ?? []) + [
                .init(service: AlertStreamCloser(broadcaster: broadcaster), successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("collector starting", metadata: [
            "storage": "\(config.storage.path)\(config.storage.postgres.map { " and " + PostgresStore.redacted($0) } ?? "")", "series": "\(store.registry.count)", "timezone": "\(config.timezone)",
            "catalogue": "\(catalogue.sensors.count) sensors, \(catalogue.zones.count) zones",
            "rules": "\(rules.count)", "live_alerts": "\(engine.liveAlerts.count)",
        ])
        defer { if let portFile { PortFile.remove(portFile) } }
        try await group.run()
    }
}

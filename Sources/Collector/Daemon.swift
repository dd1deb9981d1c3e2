import Foundation
import GRDB
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Telemetry

/// Wires the daemon together: storage, the ingest loop, HTTP, in one ServiceGroup that
/// shuts down gracefully on SIGTERM/SIGINT.
///
///     MQTT --(IngestLoop: decode, bind)--> TelemetryStore.commit --> SQLite
///                                                      TelemetryReader <-- HTTP API
struct Daemon {
    let config: CollectorConfig
    let catalogue: Catalogue
    let logger: Logger
    var clock: any WallClock = SystemWallClock()

    func run() async throws {
        let pool: DatabasePool
        do {
            pool = try TelemetryDatabase.open(path: config.storage.path, durability: config.storage.durability)
        } catch {
            throw StartupError("cannot open storage '\(config.storage.path)': \(error)")
        }
        let store: TelemetryStore
        do {
            store = try TelemetryStore(pool: pool, timeZone: config.timezone, ringCapacity: config.storage.ringCapacity,
                                       maxSeries: config.limits.maxSeries, quarantineLimit: config.storage.quarantineLimit)
        } catch {
            throw StartupError("cannot load series from '\(config.storage.path)': \(error)")
        }
        let registry = PrometheusCollectorRegistry()
        let metrics = IngestMetrics(registry: registry)
        let status = CollectorStatus()
        let loop: IngestLoop
        do {
            loop = try IngestLoop(config: config, catalogue: catalogue, store: store, status: status, metrics: metrics, clock: clock, logger: logger)
        } catch let e as StartupError {
            throw e
        } catch {
            throw StartupError("cannot set up MQTT: \(error)")
        }

        let router = Router()
        let reader = TelemetryReader(pool: pool, timeZone: config.timezone)
        APIRoutes(reader: reader, status: status, metrics: registry, clock: clock).register(on: router)
        CatalogueRoutes(reader: reader, catalogue: catalogue, clock: clock).register(on: router)
        let logger = self.logger
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(config.http.host, port: config.http.port), serverName: "collector"),
            onServerRunning: { channel in
                logger.info("HTTP listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: IngestService(loop: loop), successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("collector starting", metadata: [
            "storage": "\(config.storage.path)", "series": "\(store.registry.count)", "timezone": "\(config.timezone)",
            "catalogue": "\(catalogue.sensors.count) sensors, \(catalogue.zones.count) zones",
        ])
        try await group.run()
    }
}

import Alerts
import Foundation
import Logging
import Prometheus
import Testing
import Telemetry
@testable import Collector

/// Coverage gauges are shown by the collector that computes coverage, and withdrawn when it
/// stops (the province lease went to another collector): a former holder's figures do not stay
/// on its `/metrics`.
struct CoverageGaugesTests {
    func exposition(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func aCollectorThatStopsComputingCoverageWithdrawsItsGauges() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pool = try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations)
        let catalogue = Catalogue(zones: [Zone(id: "z1", kind: .forest, unit: "muong-te", areaHa: 10)],
                                  sensors: [SensorEntry(id: "ft-1", kind: .forest, unit: "muong-te", zone: "z1", intervalMillis: 600_000)])
        let stage = AlertStage(engine: AlertEngine(rules: [], catalogue: catalogue, now: 0), store: AlertStore(pool: pool),
                               catalogue: catalogue, coverage: .init(), derived: .init(), timeZone: .utc, logger: Logger(label: "test"))
        let registry = PrometheusCollectorRegistry()
        let gauges = CoverageGauges(registry: registry)
        stage.gauge = { gauges.set($0, $1, $2) }
        stage.clearGauges = { gauges.clear() }
        var holds = true
        stage.computesCoverage = { holds }
        let t: EpochMillis = 1_795_000_000_000
        _ = stage.tick(now: t, history: AlertSeverityTests.NoHistory(), partition: false)
        #expect(exposition(registry).contains(#"collector_coverage_pct{indicator="forest_monitored_pct",scope="province"}"#))
        holds = false
        _ = stage.tick(now: t + 1_000, history: AlertSeverityTests.NoHistory(), partition: false)
        #expect(!exposition(registry).contains("collector_coverage_pct{"))
        // Holding the lease again, they are back at the next computation.
        holds = true
        _ = stage.tick(now: t + 120_000, history: AlertSeverityTests.NoHistory(), partition: false)
        #expect(exposition(registry).contains(#"collector_coverage_pct{indicator="forest_monitored_pct",scope="province"}"#))
    }
}

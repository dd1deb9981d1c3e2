import Alerts
import Foundation
import Logging
import Testing
import Telemetry
@testable import Collector

@Suite struct AlertWorkerTests {
    /// A tracker seen for the first time is rebuilt from storage, except the readings queued
    /// behind the batch being handled: storage holds them already, and they will be handed
    /// over too, so feeding both would count them twice.
    @Test func historyLeavesOutQueuedReadings() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pool = try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations)
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let rain = try SeriesName(parsing: "hy-1/rain_mm")
        var batch = IngestBatch()
        #expect(store.bind((1...3).map { Reading(series: rain, time: EpochMillis($0) * 1000, value: Double($0)) }, into: &batch))
        try store.commit(batch, now: 0)
        let stage = AlertStage(engine: AlertEngine(rules: [], catalogue: Catalogue(), now: 0), store: AlertStore(pool: pool),
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc,
                               logger: Logger(label: "test"))
        let worker = AlertWorker(stage: stage, samples: RecentSamples(pool: pool), clock: FixedClock(0)) {}
        // Not started: the last two readings wait in the queue.
        worker.submit(.committed(Array(store.committed.suffix(2)), newNames: [rain], now: 0))
        #expect(try worker.history(rain, from: 0, to: .max).map(\.time) == [1000])
        worker.start()
        worker.flush()
        #expect(try worker.history(rain, from: 0, to: .max).map(\.time) == [1000, 2000, 3000])
        worker.stop()
    }
}

/// A clock that stays where it is put.
struct FixedClock: WallClock {
    let t: EpochMillis
    init(_ t: EpochMillis) { self.t = t }
    func now() -> EpochMillis { t }
}

import Alerts
import Foundation
import Logging
import Synchronization
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
        let worker = AlertWorker(stage: stage, samples: RecentSamples(pool: pool, pending: store.rawPending), clock: FixedClock(0)) {}
        // Not started: the last two readings wait in the queue.
        worker.submit(.committed(Array(store.committed.suffix(2)), newNames: [rain], now: 0))
        #expect(try worker.history(rain, from: 0, to: .max).map(\.time) == [1000])
        worker.start()
        worker.flush()
        #expect(try worker.history(rain, from: 0, to: .max).map(\.time) == [1000, 2000, 3000])
        worker.stop()
    }

    /// A backlog starts many trackers in one job: after the first few calls, `history` looks
    /// the queued readings up in an index instead of scanning the queue, and the index takes in
    /// the jobs queued since it was built.
    @Test func historyLeavesOutQueuedReadingsOfManySeries() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pool = try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations)
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let names = try (0..<20).map { try SeriesName(parsing: "hy-\($0)/rain_mm") }
        var batch = IngestBatch()
        #expect(store.bind(names.flatMap { n in (1...3).map { Reading(series: n, time: EpochMillis($0) * 1000, value: 1) } }, into: &batch))
        try store.commit(batch, now: 0)
        let stage = AlertStage(engine: AlertEngine(rules: [], catalogue: Catalogue(), now: 0), store: AlertStore(pool: pool),
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc,
                               logger: Logger(label: "test"))
        let worker = AlertWorker(stage: stage, samples: RecentSamples(pool: pool, pending: store.rawPending), clock: FixedClock(0)) {}
        // Not started: every series' reading at 3 s waits in the queue.
        worker.submit(.committed(store.committed.filter { $0.time == 3000 }, newNames: names, now: 0))
        for n in names.prefix(19) {
            #expect(try worker.history(n, from: 0, to: .max).map(\.time) == [1000, 2000], "\(n)")
        }
        // Another commit queued after the index was built.
        batch = IngestBatch()
        #expect(store.bind(names.map { Reading(series: $0, time: 4000, value: 1) }, into: &batch))
        try store.commit(batch, now: 0)
        worker.submit(.committed(store.committed, newNames: [], now: 0))
        for n in names.suffix(2) {
            #expect(try worker.history(n, from: 0, to: .max).map(\.time) == [1000, 2000], "\(n)")
        }
        worker.start()
        worker.flush()
        #expect(try worker.history(names[0], from: 0, to: .max).map(\.time) == [1000, 2000, 3000, 4000])
        worker.stop()
    }

    /// While commits wait in its queue, the worker judges silences as of the next queued
    /// commit, not the wall clock: readings committed but not handed over yet are not silence.
    @Test func aQueuedBacklogIsNotSilence() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pool = try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations)
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let t: EpochMillis = 1_795_000_000_000
        let catalogue = Catalogue(sensors: [SensorEntry(id: "hy-1", kind: .hydro, unit: "d", intervalMillis: 1000)])
        let silent = Rule(name: "silent", severity: .warning, match: RuleMatch(kind: .hydro), when: .silentFor(millis: nil, intervals: 3))
        let stage = AlertStage(engine: AlertEngine(rules: [silent], catalogue: catalogue, now: t - 20_000), store: AlertStore(pool: pool),
                               catalogue: catalogue, coverage: .init(), derived: .init(), timeZone: .utc, logger: Logger(label: "test"))
        let published = Mutex<[String]>([])
        stage.publish = { topic, _, _ in published.withLock { $0.append(topic) } }
        let level = try SeriesName(parsing: "hy-1/level_m")
        // Two commits, 4 s behind the clock: a reading 6 s old, then one 1 s old. Judged at
        // the wall clock after the first, hy-1 would look silent for 6 s (more than 3 intervals).
        var jobs: [AlertWorker.Job] = []
        for (time, committedAt) in [(t - 6_000, t - 4_000), (t - 1_000, t - 3_900)] {
            var batch = IngestBatch()
            #expect(store.bind([Reading(series: level, time: time, value: 1)], into: &batch))
            try store.commit(batch, now: committedAt)
            jobs.append(.committed(store.committed, newNames: jobs.isEmpty ? [level] : [], now: committedAt))
        }
        let worker = AlertWorker(stage: stage, samples: RecentSamples(pool: pool, pending: store.rawPending), clock: FixedClock(t)) {}
        for j in jobs { worker.submit(j) }
        worker.start()
        worker.flush()
        worker.stop()
        #expect(published.withLock { $0 }.isEmpty, "\(published.withLock { $0 })")
    }
}

/// A clock that stays where it is put.
struct FixedClock: WallClock {
    let t: EpochMillis
    init(_ t: EpochMillis) { self.t = t }
    func now() -> EpochMillis { t }
}

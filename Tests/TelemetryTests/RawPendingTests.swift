import Foundation
import GRDB
import Synchronization
import Testing
@testable import Telemetry

/// Committed readings wait in `RawPending` until their slice of series is written to `raw`;
/// the journal keeps them durable meanwhile.
@Suite struct RawPendingTests {
    static func readings(_ name: SeriesName, _ times: some Sequence<Int>) -> [Reading] {
        times.map { Reading(series: name, time: 1_795_000_000_000 + EpochMillis($0) * 1000, value: Double($0)) }
    }

    static func rawCount(_ pool: DatabasePool) throws -> Int {
        try pool.read { try BlockStore.totalCount($0) }
    }

    @discardableResult
    static func commit(_ store: TelemetryStore, _ readings: [Reading]) throws -> TelemetryStore.CommitStats {
        var batch = IngestBatch()
        guard store.bind(readings, into: &batch) else { throw TestFailure("bind refused") }
        return try store.commit(batch, now: 0)
    }

    /// A repeat is found whether its twin is pending or already in `raw`, and a late reading
    /// (older than the newest) that has no twin is new.
    @Test func duplicatesAreFoundPendingOrWritten() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rawRotation: .seconds(3600))
        let a = try SeriesName(parsing: "a/x")
        #expect(try Self.commit(store, Self.readings(a, stride(from: 0, to: 200, by: 2))).inserted == 100)
        #expect(try Self.rawCount(pool) == 0 && store.rawPending.count == 100)
        let again = try Self.commit(store, Self.readings(a, stride(from: 0, to: 200, by: 2)))
        #expect(again.inserted == 0 && again.duplicates == 100)
        #expect(try Self.commit(store, Self.readings(a, [51, 51, 52])).inserted == 1)   // late, once

        try store.writePendingRaw()
        #expect(try Self.rawCount(pool) == 101 && store.rawPending.count == 0)
        let written = try Self.commit(store, Self.readings(a, stride(from: 1, to: 200, by: 50)) + Self.readings(a, [198, 51]))
        #expect(written.inserted == 3 && written.duplicates == 3)   // 1, 101, 151 new; 51, 198 (and 51) not
        #expect(try Self.commit(store, Self.readings(a, [300])).inserted == 1)
    }

    /// One slice a commit (rotation zero): after a whole rotation every reading is in `raw`,
    /// not before, and the next commit empties the journal.
    @Test func aRotationWritesEverySliceThenTheJournalIsTrimmed() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rawRotation: .zero)
        let names = try (0..<(2 * RawPending.sliceCount)).map { try SeriesName(parsing: "s\($0)/x") }
        try Self.commit(store, names.flatMap { Self.readings($0, 0..<10) })
        let total = names.count * 10
        func journalRows() throws -> Int { try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM rollup_journal") } ?? -1 }
        for k in 0..<RawPending.sliceCount {
            #expect(try Self.rawCount(pool) == k * 20)
            try Self.commit(store, [])
        }
        #expect(try Self.rawCount(pool) == total && store.rawPending.count == 0)
        #expect(try journalRows() == 1)
        try Self.commit(store, [])
        #expect(try journalRows() == 0)
    }

    /// Slices follow the clock, not the number of commits: a commit writes one slice per
    /// `rawRotation / 64` since the last write, so rare commits still finish a rotation in time.
    @Test func slicesFollowTheClock() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let start = ContinuousClock.now
        let elapsed = Mutex<Duration>(.zero)
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rawRotation: .seconds(64),
                                       monotonic: { start + elapsed.withLock { $0 } })
        let names = try (0..<(2 * RawPending.sliceCount)).map { try SeriesName(parsing: "s\($0)/x") }
        try Self.commit(store, names.flatMap { Self.readings($0, 0..<5) })
        try Self.commit(store, [])
        #expect(try Self.rawCount(pool) == 0)
        elapsed.withLock { $0 = .seconds(10.5) }
        try Self.commit(store, [])
        #expect(try Self.rawCount(pool) == 10 * 2 * 5)          // ten slices of one second each
        elapsed.withLock { $0 = .seconds(10.9) }
        try Self.commit(store, [])
        #expect(try Self.rawCount(pool) == 10 * 2 * 5)          // the next one is not due yet
        elapsed.withLock { $0 = .seconds(500) }
        try Self.commit(store, [])
        #expect(try Self.rawCount(pool) == names.count * 5 && store.rawPending.count == 0)
    }

    /// Files copied as a killed process leaves them, readings still pending: the next start
    /// writes them to `raw` from the journal, and still knows them as duplicates.
    @Test func pendingReadingsSurviveAKill() throws {
        let dir = TempDir(), copy = TempDir()
        defer { dir.cleanup(); copy.cleanup() }
        let path = dir.file("c.sqlite"), copyPath = copy.file("c.sqlite")
        let pool = try TelemetryDatabase.open(path: path)
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rawRotation: .seconds(3600))
        let a = try SeriesName(parsing: "a/x"), b = try SeriesName(parsing: "b/y")
        try Self.commit(store, Self.readings(a, 0..<100) + Self.readings(b, 0..<50))
        try store.mergeRollups()
        #expect(try Self.rawCount(pool) == 0)
        for (from, to) in [(path, copyPath), (TelemetryDatabase.rollupsPath(for: path), TelemetryDatabase.rollupsPath(for: copyPath))] {
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: from + suffix) {
                try FileManager.default.copyItem(atPath: from + suffix, toPath: to + suffix)
            }
        }
        try store.close()

        let restartedPool = try TelemetryDatabase.open(path: copyPath)
        let restarted = try TelemetryStore(pool: restartedPool, timeZone: .utc)
        #expect(try Self.rawCount(restartedPool) == 150)
        let again = try Self.commit(restarted, Self.readings(a, 90..<110) + Self.readings(b, 0..<10))
        #expect(again.inserted == 10 && again.duplicates == 20)
        let hour = try restartedPool.read { try Int.fetchOne($0, sql: "SELECT sum(cnt) FROM rollup_1h") }
        #expect(hour == 160, "the rollups count each reading once: 150, and the 10 new")
        try restarted.close()
        #expect(try Self.rawCount(restartedPool) == 160)
    }

    /// Raw queries answer pending and stored readings together, each once, within the limit.
    @Test func readersSeePendingAndStoredReadingsOnce() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rawRotation: .seconds(3600))
        let a = try SeriesName(parsing: "a/x")
        try Self.commit(store, Self.readings(a, stride(from: 0, to: 100, by: 2)))
        try store.writePendingRaw()
        try Self.commit(store, Self.readings(a, stride(from: 1, to: 100, by: 2)))
        #expect(store.rawPending.count == 50)
        let base: EpochMillis = 1_795_000_000_000
        let reader = TelemetryReader(pool: pool, timeZone: .utc, pending: store.rawPending)
        let all = try await reader.raw(SeriesID(0), from: base, to: base + 100_000, limit: 1000)
        #expect(all.points.map(\.value) == (0..<100).map(Double.init) && !all.truncated)
        let some = try await reader.raw(SeriesID(0), from: base + 10_000, to: base + 100_000, limit: 30)
        #expect(some.points.map(\.value) == (10..<40).map(Double.init) && some.truncated)
        let fileOnly = try await TelemetryReader(pool: pool, timeZone: .utc).raw(SeriesID(0), from: base, to: base + 100_000, limit: 1000)
        #expect(fileOnly.points.count == 50)

        let samples = RecentSamples(pool: pool, pending: store.rawPending)
        #expect(try samples.lastStored(a, before: base + 50_000)?.value == 49)
        #expect(try samples.lastStored(a, before: base + 49_000)?.value == 48)
        #expect(try samples.stored(a, from: base, to: base + 5_000)?.samples.map(\.value) == [0, 1, 2, 3, 4])
        #expect(samples.recent(SeriesID(0)).suffix(3).map(\.value) == [97, 98, 99])
    }

    /// A reading in both lists (written to `raw` between a reader's two looks) comes once.
    @Test func mergedKeepsEachTimeOnce() {
        func s(_ times: [EpochMillis]) -> [Sample] { times.map { Sample(time: $0, value: Double($0)) } }
        #expect(RawPending.merged(s([1, 2, 4, 7]), s([2, 3, 7, 9])).map(\.time) == [1, 2, 3, 4, 7, 9])
        #expect(RawPending.merged(s([]), s([5])).map(\.time) == [5])
        #expect(RawPending.merged(s([5]), s([])).map(\.time) == [5])
    }

    /// The newest pending reading per series, whatever order they came in and whichever
    /// slice holds them; series with none are absent.
    @Test func newestPerSeries() {
        let pending = RawPending()
        let far = SeriesID(Int32(3 * RawPending.sliceCount + 1))
        pending.add([BoundReading(series: SeriesID(1), time: 50, value: 5), BoundReading(series: far, time: 9, value: 0.9),
                     BoundReading(series: SeriesID(1), time: 70, value: 7), BoundReading(series: SeriesID(1), time: 60, value: 6)])
        pending.add([BoundReading(series: far, time: 8, value: 0.8)])
        let newest = pending.newest()
        #expect(newest.count == 2)
        #expect(newest[SeriesID(1)]?.time == 70 && newest[SeriesID(1)]?.value == 7)
        #expect(newest[far]?.time == 9 && newest[far]?.value == 0.9)
        #expect(RawPending().newest().isEmpty)
    }
}

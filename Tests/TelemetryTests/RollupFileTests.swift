import Foundation
import GRDB
import Testing
@testable import Telemetry

/// The rollups live in a file of their own, merged by `RollupMerger` beside the commits.
@Suite struct RollupFileTests {
    static func readings(_ name: SeriesName, _ times: Range<Int>) -> [Reading] {
        times.map { Reading(series: name, time: 1_795_000_000_000 + EpochMillis($0) * 1000, value: Double($0)) }
    }

    /// Another connection takes the write lock of the database at `path` and holds it until
    /// the returned function is called (which waits for that connection to let go).
    static func holdWriteLock(_ path: String) throws -> () -> Void {
        var config = Configuration()
        config.busyMode = .timeout(5)
        let blocker = try DatabaseQueue(path: path, configuration: config)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread {
            try? blocker.inTransaction(.immediate) { _ in
                locked.signal()
                release.wait()
                return .commit
            }
            done.signal()
        }.start()
        locked.wait()
        return {
            release.signal()
            done.wait()
        }
    }

    /// Every row of `tier` in the rollups file, by key.
    static func tierRows(_ db: some DatabaseReader, _ tier: Tier) throws -> [BucketKey: Bucket] {
        try db.read { db in
            var out: [BucketKey: Bucket] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT * FROM \(tier.table)") {
                out[BucketKey(tier: tier, series: SeriesID(Int32(r["series_id"] as Int64)), start: r["t"])] =
                    Bucket(count: r["cnt"], sum: r["total"], min: r["lo"], max: r["hi"],
                           firstTime: r["first_t"], first: r["first_v"], lastTime: r["last_t"], last: r["last_v"])
            }
            return out
        }
    }

    /// Every tier of the rollups file at `path` equals the recompute of `readings` (series 0).
    static func expectTiersMatch(_ db: some DatabaseReader, _ readings: [Reading], _ comment: String, _ check: Checks) throws {
        let bound = readings.map { BoundReading(series: SeriesID(0), time: $0.time, value: $0.value) }
        for tier in Tier.allCases {
            let expected = RollupOracle.recompute(bound, tier: tier, utcOffsetSeconds: 0)
            let got = try tierRows(db, tier)
            check(got.count == expected.count, "\(comment): tier \(tier) has \(got.count) rows, not \(expected.count)")
            for (k, b) in expected {
                check(got[k].map { sameBucket($0, b) } == true, "\(comment): tier \(tier) bucket \(k.start): \(String(describing: got[k])), not \(b)")
            }
        }
    }

    /// Polls `body` every 20 ms for up to 10 s (blocking: call it `onOwnThread`).
    static func eventually(_ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try body() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return try body()
    }

    /// The 1m tier is merged at every merge, the 15m, 1h and 1d tiers less often. Files left
    /// between the two (copied as a killed process leaves them) hold readings in the 1m tier
    /// only: the next start adds those to the coarser tiers alone, so every tier equals its
    /// recompute, with no reading counted twice or missed.
    @Test func aKillBetweenTheMinuteAndTheCoarseMergeCountsEachReadingOnce() async throws {
        try await onOwnThread(checking: Self.killBetweenTheMinuteAndTheCoarseMerge)
    }

    @Sendable static func killBetweenTheMinuteAndTheCoarseMerge(_ check: Checks) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let rollupsPath = TelemetryDatabase.rollupsPath(for: path)
        let pool = try TelemetryDatabase.open(path: path)
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rollupCoarseInterval: .seconds(3600))
        let name = try SeriesName(parsing: "a/x")
        let merged = Self.readings(name, 0..<100), minuteOnly = Self.readings(name, 100..<250)
        var batch = IngestBatch()
        check(store.bind(merged, into: &batch))
        try store.commit(batch, now: 0, rollups: .mergeNow)   // waited for: every tier
        batch = IngestBatch()
        check(store.bind(minuteOnly, into: &batch))
        try store.commit(batch, now: 0, rollups: .handOff)    // the 1m tier now, the others in an hour

        let reader = try DatabaseQueue(path: rollupsPath)
        func total(_ tier: Tier) throws -> Int { try reader.read { try Int.fetchOne($0, sql: "SELECT sum(cnt) FROM \(tier.table)") } ?? 0 }
        check(try eventually { try total(.minute) == 250 })
        for tier in [Tier.quarterHour, .hour, .day] { check(try total(tier) == 100, "tier \(tier) before the coarse merge") }
        let state = try reader.read { try Row.fetchOne($0, sql: "SELECT journal_upto, minute_upto FROM merge_state")! }
        check((state[0] as Int64) < (state[1] as Int64))
        try reader.close()

        let copy = TempDir()
        defer { copy.cleanup() }
        let copyPath = copy.file("c.sqlite")
        for (from, to) in [(path, copyPath), (rollupsPath, TelemetryDatabase.rollupsPath(for: copyPath))] {
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: from + suffix) {
                try FileManager.default.copyItem(atPath: from + suffix, toPath: to + suffix)
            }
        }
        let restartedPool = try TelemetryDatabase.open(path: copyPath)
        let restarted = try TelemetryStore(pool: restartedPool, timeZone: .utc)
        check(!restarted.hasPendingRollups)
        try expectTiersMatch(restartedPool, merged + minuteOnly, "after the restart", check)
        try restarted.close()

        try store.close()   // stopping merges the deferred tiers
        try expectTiersMatch(pool, merged + minuteOnly, "after a clean stop", check)
    }

    /// Nobody waiting and nothing new arriving: the deferred tiers still reach the file after
    /// the coarse interval.
    @Test func deferredTiersAreMergedOnTheirOwn() async throws {
        try await onOwnThread(checking: Self.deferredTiersMergedOnTheirOwn)
    }

    @Sendable static func deferredTiersMergedOnTheirOwn(_ check: Checks) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let pool = try TelemetryDatabase.open(path: path)
        let store = try TelemetryStore(pool: pool, timeZone: .utc, rollupCoarseInterval: .milliseconds(300))
        let readings = Self.readings(try SeriesName(parsing: "a/x"), 0..<120)
        var batch = IngestBatch()
        check(store.bind(readings, into: &batch))
        try store.commit(batch, now: 0, rollups: .handOff)
        check(try eventually {
            try pool.read { try Int.fetchOne($0, sql: "SELECT sum(cnt) FROM rollup_1d") } == 120
        })
        try expectTiersMatch(pool, readings, "merged on their own", check)
        try store.close()
    }

    /// A commit does not wait for the rollups file: with its write lock held elsewhere, commits
    /// that hand their deltas over still succeed at once, and the deltas are merged once the
    /// lock is free. Meanwhile the backlog gauge counts the readings waiting.
    @Test func aBusyRollupsFileDoesNotHoldUpCommits() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let pool = try TelemetryDatabase.open(path: path)
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let name = try SeriesName(parsing: "a/x")

        let backlog = Latest()
        store.observeRollupBacklog { backlog.set($0) }
        let unlock = try Self.holdWriteLock(TelemetryDatabase.rollupsPath(for: path))
        let started = ContinuousClock.now
        for part in 0..<3 {
            var batch = IngestBatch()
            #expect(store.bind(Self.readings(name, part * 100..<(part + 1) * 100), into: &batch))
            #expect(try store.commit(batch, now: 0, rollups: .handOff).inserted == 100)
        }
        // The merger's busy timeout is 5 s: a commit that merged itself would wait that long
        // at least once. Three commits of 100 readings take milliseconds; the bound is loose
        // (4 s) so that a busy machine cannot fail it, and still below what a wait would take.
        #expect(ContinuousClock.now - started < .seconds(4))
        // Every reading stored: in the blocks, or pending there (a slice may have been written).
        #expect(try pool.read { try BlockStore.totalCount($0) } + store.rawPending.count == 300)
        #expect(store.hasPendingRollups)
        #expect(backlog.value == 300)   // readings, not commits
        unlock()

        try store.writePendingRaw()
        try store.mergeRollups()
        #expect(!store.hasPendingRollups)
        #expect(backlog.value == 0)
        let hour = try pool.read { try Row.fetchOne($0, sql: "SELECT sum(cnt), sum(total) FROM rollup_1h")! }
        #expect(hour[0] as Int == 300 && hour[1] as Double == Double(299 * 300 / 2))
        #expect(try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM rollup_journal") } == 0)
    }

    /// Merges that keep failing (the rollups file locked, as a full disk would) while the
    /// merger's queue is full make commits fail, so nothing more is acknowledged; once the
    /// file is free everything is merged, exactly.
    @Test func failingMergesWithAFullQueueFailCommits() async throws {
        // Commits block here for seconds: on a thread of their own, not the test pool's.
        let (refused, rawWhileRefused, tiers) = try await onOwnThread { () throws -> (Bool, Int, [Double]) in
            let dir = TempDir()
            defer { dir.cleanup() }
            let path = dir.file("c.sqlite")
            let pool = try TelemetryDatabase.open(path: path)
            let store = try TelemetryStore(pool: pool, timeZone: .utc, rollupQueueLimit: 10)
            let name = try SeriesName(parsing: "a/x")
            func commit(_ minutes: Range<Int>) throws {   // one reading a minute: a 1m delta each
                var batch = IngestBatch()
                let readings = minutes.map { Reading(series: name, time: 1_795_000_000_000 + EpochMillis($0) * 60_000, value: Double($0)) }
                guard store.bind(readings, into: &batch) else { throw TestFailure("bind refused") }
                try store.commit(batch, now: 0, rollups: .handOff)
            }
            let unlock = try Self.holdWriteLock(TelemetryDatabase.rollupsPath(for: path))
            try commit(0..<100)                               // queued: over 100 deltas
            // The merger's busy timeout (5 s) runs out: its merge fails, the queue stays full.
            var refused = false
            let deadline = Date().addingTimeInterval(20)
            while !refused && Date() < deadline {
                do { try commit(100..<200) } catch { refused = true }
                if !refused { Thread.sleep(forTimeInterval: 0.2) }
            }
            let raw = (try pool.read { try BlockStore.totalCount($0) }) + store.rawPending.count
            unlock()
            try store.mergeRollups()
            try commit(100..<200)
            try store.mergeRollups()
            // Every tier, after the failed merges were tried again: each reading counted once
            // (rows and sealed blocks alike; the 1m tier of this one-a-minute series
            // is answered from its raw readings, `TierSizing`).
            let id = store.registry.id(of: name)!
            let sums = try pool.read { db in
                try Tier.allCases.map { tier in
                    let row = try Row.fetchOne(db, sql: "SELECT coalesce(sum(cnt), 0), coalesce(sum(total), 0) FROM \(tier.table)")!
                    let sealed = try TierSizing.isFromRaw(tier, series: id, db)
                        ? TierSizing.rawBuckets(tier, series: id, days: LocalDays(timeZone: TimeZoneID.utc.zone), from: .min, to: .max,
                                                recent: store.rawPending.samples(of: id, from: .min, to: .max), db)
                        : RollupBlockStore.buckets(tier: tier, series: id, from: .min, to: .max, db)
                    return [row[0] as Double + Double(sealed.reduce(0) { $0 + $1.bucket.count }),
                            row[1] as Double + sealed.reduce(0) { $0 + $1.bucket.sum }]
                }
            }
            return (refused, raw, sums.flatMap { $0 })
        }
        #expect(refused)
        #expect(rawWhileRefused == 100)   // in `raw` or pending
        let each = [200, Double(199 * 200 / 2)]
        #expect(tiers == each + each + each + each)
    }

    /// A file from before migration v4 keeps its rollups and its journal inside: opening it
    /// moves the rollups to the rollups file, and the journal's readings are merged on top,
    /// once.
    @Test func migrationV4MovesRollupsOut() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("old.sqlite")
        do {
            let old = try DatabaseQueue(path: path)
            try TelemetryDatabase.migrator.migrate(old, upTo: "v3: rollup journal for deferred rollup merges")
            try old.write { db in
                try db.execute(sql: "INSERT INTO series (id, name, sensor, metric, first_seen) VALUES (0, 'a/x', 'a', 'x', 0)")
                try db.execute(sql: "INSERT INTO raw VALUES (0, 0, 1), (0, 60000, 2), (0, 120000, 4)")
                // The first two are merged into the rollups; the third is still in the journal.
                try db.execute(sql: "INSERT INTO rollup_1d VALUES (0, 0, 2, 3, 1, 2, 0, 1, 60000, 2)")
                try db.execute(sql: "INSERT INTO rollup_journal (series_id, t, value) VALUES (0, 120000, 4)")
            }
        }
        for _ in 0..<2 {   // the second open finds everything in place
            let pool = try TelemetryDatabase.open(path: path)
            let store = try TelemetryStore(pool: pool, timeZone: .utc)
            #expect(!store.hasPendingRollups)
            let day = try pool.read { try Row.fetchOne($0, sql: "SELECT cnt, total, lo, hi, last_t, last_v FROM rollup_1d")! }
            #expect(day[0] as Int == 3 && day[1] as Double == 7 && day[2] as Double == 1 && day[3] as Double == 4)
            #expect(day[4] as Int64 == 120_000 && day[5] as Double == 4)
            let inMain = try pool.read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM main.sqlite_master WHERE name LIKE 'rollup\\_1%' ESCAPE '\\'")
            }
            #expect(inMain == 0)
            try store.close()
            try pool.close()
        }
        let rollups = try DatabaseQueue(path: TelemetryDatabase.rollupsPath(for: path))
        #expect(try rollups.read { try Int.fetchOne($0, sql: "SELECT journal_upto FROM merge_state") } == 1)
        #expect(try rollups.read { try Int.fetchOne($0, sql: "SELECT cnt FROM rollup_1m WHERE t = 120000") } == 1)
    }

    /// A journal pack gives back exactly what was packed, bit for bit, series by series in
    /// time order; a commit of sensor readings costs a few bytes each, not 20; a version-1
    /// pack (before migration v8) reads back too; a damaged pack is an error, not a crash.
    @Test func journalPackRoundTrip() throws {
        var readings = [BoundReading(series: SeriesID(0), time: -1, value: -0.0),
                        BoundReading(series: SeriesID(Int32.max), time: .max, value: .greatestFiniteMagnitude),
                        BoundReading(series: SeriesID(7), time: 1_795_000_000_123, value: 0.1),
                        BoundReading(series: SeriesID(0), time: .min, value: .leastNonzeroMagnitude)]
        var rng = SplitMix64(seed: 4)
        for k in 0..<5_000 {   // 50 series of a 10 s sensor, 100 readings each, shuffled
            readings.append(BoundReading(series: SeriesID(Int32(100 + k % 50)), time: 1_795_000_000_000 + EpochMillis(k / 50) * 10_000,
                                         value: Double(2_000 + Int(rng.next() % 50)) / 100))
        }
        readings.shuffle(using: &rng)
        var bytes: [UInt8] = [0xFF]   // what was there before stays
        JournalPack.append(readings, to: &bytes)
        #expect(bytes.count < 5 * readings.count, "\(bytes.count) B for \(readings.count) readings")
        var back: [BoundReading] = []
        try bytes.dropFirst().withUnsafeBytes { try JournalPack.forEach(in: $0) { back.append($0) } }
        let expected = readings.sorted { ($0.series.rawValue, $0.time) < ($1.series.rawValue, $1.time) }
        #expect(back.count == expected.count)
        #expect(zip(expected, back).allSatisfy { a, b in a.series == b.series && a.time == b.time && a.value.bitPattern == b.value.bitPattern })
        // Version 1, as migration v8 reads it.
        var v1: [UInt8] = []
        JournalPack.appendV1(Array(readings.prefix(4)), to: &v1)
        #expect(v1.count == 4 * JournalPack.strideV1)
        var old: [BoundReading] = []
        v1.withUnsafeBytes { JournalPack.forEachV1(in: $0) { old.append($0) } }
        #expect(zip(readings.prefix(4), old).allSatisfy { $0.series == $1.series && $0.time == $1.time && $0.value.bitPattern == $1.value.bitPattern })
        // Damaged: refused (what came before the damage may have been given).
        #expect(throws: (any Error).self) { try [UInt8](arrayLiteral: 2, 5, 200).withUnsafeBytes { try JournalPack.forEach(in: $0) { _ in } } }
        #expect(throws: (any Error).self) { try v1.withUnsafeBytes { try JournalPack.forEach(in: $0) { _ in } } }
    }

    /// A merge folds the deltas of one key from many commits into one upsert, with the result
    /// of upserting them one after another: ties of first/last time keep the earlier delta.
    @Test func coalescedDeltasEqualOneUpsertAfterAnother() {
        let day = BucketKey(tier: .day, series: SeriesID(3), start: 0)
        let other = BucketKey(tier: .day, series: SeriesID(4), start: 0)
        let pieces: [(key: BucketKey, bucket: Bucket)] = [
            (day, Bucket(time: 50, value: 1)), (day, Bucket(time: 10, value: 2)),
            (day, Bucket(time: 10, value: 3)),   // same first time: the earlier delta's value stays
            (day, Bucket(time: 90, value: -4)), (other, Bucket(time: 5, value: 7)), (day, Bucket(time: 20, value: 9)),
        ]
        let sorted = pieces.enumerated().sorted { a, b in
            (a.element.key.series.rawValue, a.offset) < (b.element.key.series.rawValue, b.offset)
        }.map(\.element)
        var folded = sorted
        RollupMerger.coalesce(&folded)
        #expect(folded.map(\.key) == [day, other])
        var expected = Bucket.empty
        for p in pieces where p.key == day { expected.merge(p.bucket) }
        #expect(folded[0].bucket == expected)
        #expect(folded[0].bucket.count == 5 && folded[0].bucket.first == 2 && folded[0].bucket.last == -4)
        #expect(folded[0].bucket.min == -4 && folded[0].bucket.max == 9 && folded[0].bucket.sum == 11)
        #expect(folded[1].bucket == Bucket(time: 5, value: 7))
    }

    @Test func rollupsPathSitsBesideTheFile() {
        #expect(TelemetryDatabase.rollupsPath(for: "data/collector.sqlite") == "data/collector.rollups.sqlite")
        #expect(TelemetryDatabase.rollupsPath(for: "/var/lib/c/db") == "/var/lib/c/db.rollups")
    }
}

/// The last value a callback reported, readable from the test.
final class Latest: @unchecked Sendable {
    private let lock = NSLock()
    private var v = -1
    func set(_ n: Int) { lock.lock(); v = n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return v }
}

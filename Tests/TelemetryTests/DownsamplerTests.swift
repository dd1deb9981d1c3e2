import Foundation
import GRDB
import Testing
@testable import Telemetry

@Suite struct DownsamplerTests {
    static let hcm = TimeZoneID("Asia/Ho_Chi_Minh")!   // UTC+7, no DST

    /// A stream over three days for a few series, with values that make sums exact in binary.
    static func stream(seed: UInt64, count: Int) -> [BoundReading] {
        var rng = SplitMix64(seed: seed)
        let base: EpochMillis = 1_795_000_000_000
        return (0..<count).map { _ in
            BoundReading(series: SeriesID(Int32(rng.next(below: 4))),
                         time: base + EpochMillis(rng.next(below: 3 * 86_400)) * 1000 + EpochMillis(rng.next(below: 3)) * 250,
                         value: Double(Int(rng.next(below: 2001)) - 1000) / 4)
        }
    }

    /// In memory: the deltas drained over many small "commits", merged, equal the recompute.
    @Test(arguments: [1, 2, 3, 99])
    func shuffledWithDuplicatesMatchesRecompute(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var readings = Self.stream(seed: seed, count: 5000)
        readings += readings.prefix(700)          // duplicates (redeliveries)
        readings.shuffle(using: &rng)
        var d = Downsampler(days: LocalDays(timeZone: Self.hcm.zone))
        d.reserve(seriesCount: 4)
        var merged: [BucketKey: Bucket] = [:]
        var seen = Set<[Int64]>()   // storage's dedupe, played here by a set
        var i = 0
        while i < readings.count {
            let n = Int(rng.next(below: 300)) + 1
            for r in readings[i..<min(i + n, readings.count)] where seen.insert([Int64(r.series.rawValue), r.time]).inserted {
                d.add(series: r.series, time: r.time, value: r.value)
            }
            d.drain { key, delta in merged[key, default: .empty].merge(delta) }
            #expect(d.isClean)
            i += n
        }
        for tier in Tier.allCases {
            let expected = RollupOracle.recompute(readings, tier: tier, utcOffsetSeconds: 7 * 3600)
            let got = merged.filter { $0.key.tier == tier }
            #expect(got.count == expected.count, "tier \(tier)")
            for (k, b) in expected {
                #expect(got[k].map { sameBucket($0, b) } == true, "tier \(tier) bucket \(k.start)")
            }
        }
    }

    /// A series' tiers answered from raw (`answerFromRaw`, set midway) yield no more deltas,
    /// from closed, open or late buckets; its other tiers, and the other series, still sum to
    /// the recompute.
    @Test func tiersAnsweredFromRawYieldNoDeltas() {
        var rng = SplitMix64(seed: 8)
        var readings = Self.stream(seed: 8, count: 6000)
        readings.shuffle(using: &rng)
        var d = Downsampler(days: LocalDays(timeZone: Self.hcm.zone))
        d.reserve(seriesCount: 4)
        var merged: [BucketKey: Bucket] = [:]
        var seen = Set<[Int64]>()
        for (i, chunk) in stride(from: 0, to: readings.count, by: 500).enumerated() {
            if i == 3 {
                d.answerFromRaw(.minute, series: SeriesID(1))
                d.answerFromRaw(.quarterHour, series: SeriesID(1))
                d.answerFromRaw(.hour, series: SeriesID(2))
            }
            for r in readings[chunk..<min(chunk + 500, readings.count)] where seen.insert([Int64(r.series.rawValue), r.time]).inserted {
                d.add(series: r.series, time: r.time, value: r.value)
            }
            d.drain { key, delta in
                if i >= 3 {
                    #expect(!(key.series == SeriesID(1) && (key.tier == .minute || key.tier == .quarterHour)))
                    #expect(!(key.series == SeriesID(2) && key.tier == .hour))
                }
                merged[key, default: .empty].merge(delta)
            }
        }
        let dropped: [(Tier, SeriesID)] = [(.minute, SeriesID(1)), (.quarterHour, SeriesID(1)), (.hour, SeriesID(2))]
        for tier in Tier.allCases {
            let expected = RollupOracle.recompute(readings, tier: tier, utcOffsetSeconds: 7 * 3600)
            for (k, b) in expected where !dropped.contains(where: { $0.0 == tier && $0.1 == k.series }) {
                #expect(merged[k].map { sameBucket($0, b) } == true, "tier \(tier) series \(k.series) bucket \(k.start)")
            }
        }
    }

    /// Streams as gateways send them: every series every ~10 s, mostly in order, so most
    /// readings land in their open minute; some arrive late, some twice, and one series'
    /// six hours come at the end, shuffled. Drained at random points, the deltas sum to the
    /// recompute in every tier. The zones: no DST (Ho Chi Minh City); a 23 h day (Berlin);
    /// midnights off the hour, so hours straddle days (Kolkata); and midnights at 44:30
    /// past the hour (Monrovia in 1970), so a day boundary cuts a minute in two.
    @Test(arguments: [("Asia/Ho_Chi_Minh", 1_795_000_000_000), ("Europe/Berlin", 1_774_690_000_000),
                      ("Asia/Kolkata", 1_795_000_000_000), ("Africa/Monrovia", -40_000_000)] as [(String, Int64)])
    func gatewayStreamsMatchRecompute(zone: String, base: EpochMillis) {
        var rng = SplitMix64(seed: 21)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: zone)!
        var stream: [BoundReading] = []
        var backlog: [BoundReading] = []
        for step in 0..<18_000 {                                 // 50 h of 10 s steps
            for s in 0..<6 {
                let r = BoundReading(series: SeriesID(Int32(s)),
                                     time: base + EpochMillis(step) * 10_000 + EpochMillis(rng.next(below: 3_000)),
                                     value: Double(Int(rng.next(below: 2001)) - 1000) / 4)
                if s == 5 && step >= 3_000 && step < 5_160 { backlog.append(r); continue }
                stream.append(r)
            }
        }
        // 3 % arrive late, after up to 2,000 other readings (~5 min of the stream).
        let arrival = stream.indices.map { $0 + (rng.next(below: 100) < 3 ? Int(rng.next(below: 2_000)) + 1 : 0) }
        stream = stream.indices.sorted { (arrival[$0], $0) < (arrival[$1], $1) }.map { stream[$0] }
        stream += stream.indices.filter { _ in rng.next(below: 100) < 2 }.map { stream[$0] }   // 2 % twice
        backlog.shuffle(using: &rng)
        stream += backlog

        var d = Downsampler(days: LocalDays(timeZone: cal.timeZone))
        d.reserve(seriesCount: 6)
        var merged: [BucketKey: Bucket] = [:]
        var seen = Set<[Int64]>()
        var untilDrain = 1
        for r in stream {
            if seen.insert([Int64(r.series.rawValue), r.time]).inserted { d.add(series: r.series, time: r.time, value: r.value) }
            untilDrain -= 1
            if untilDrain == 0 {
                d.drain { key, delta in merged[key, default: .empty].merge(delta) }
                untilDrain = Int(rng.next(below: 5_000)) + 1
            }
        }
        d.drain { key, delta in merged[key, default: .empty].merge(delta) }

        var expected: [BucketKey: Bucket] = [:]
        for tier in Tier.allCases {
            expected.merge(RollupOracle.recompute(stream, tier: tier) { t in
                tier == .day
                    ? EpochMillis(cal.startOfDay(for: Date(timeIntervalSince1970: Double(EpochMillis.floorDiv(t, 1000)))).timeIntervalSince1970) * 1000
                    : EpochMillis.floorDiv(t, tier.widthMillis) * tier.widthMillis
            }) { a, _ in a }
        }
        #expect(merged.count == expected.count)
        for (k, b) in expected {
            #expect(merged[k].map { sameBucket($0, b) } == true, "\(zone): tier \(k.tier) series \(k.series) bucket \(k.start)")
        }
    }

    /// A journal replay whose 1m deltas are merged already adds its readings to the other
    /// tiers only, exactly as a plain add would.
    @Test func addToCoarserTiersLeavesTheMinuteOut() {
        var rng = SplitMix64(seed: 8)
        var readings = Self.stream(seed: 8, count: 3000)
        readings.shuffle(using: &rng)
        var unique = Set<[Int64]>()
        readings = readings.filter { unique.insert([Int64($0.series.rawValue), $0.time]).inserted }
        var d = Downsampler(days: LocalDays(timeZone: Self.hcm.zone))
        d.reserve(seriesCount: 4)
        var merged: [BucketKey: Bucket] = [:]
        for (i, r) in readings.enumerated() {
            d.addToCoarserTiers(series: r.series, time: r.time, value: r.value)
            if i % 97 == 0 { d.drain { key, delta in merged[key, default: .empty].merge(delta) } }
        }
        d.drain { key, delta in merged[key, default: .empty].merge(delta) }
        #expect(!merged.keys.contains { $0.tier == .minute })
        for tier in Tier.allCases where tier != .minute {
            let expected = RollupOracle.recompute(readings, tier: tier, utcOffsetSeconds: 7 * 3600)
            let got = merged.filter { $0.key.tier == tier }
            #expect(got.count == expected.count, "tier \(tier)")
            for (k, b) in expected {
                #expect(got[k].map { sameBucket($0, b) } == true, "tier \(tier) bucket \(k.start)")
            }
        }
    }

    @Test func bucketAlignment() {
        var d = Downsampler(days: LocalDays(timeZone: Self.hcm.zone))
        let t: EpochMillis = 1_795_000_123_456   // 2026-11-18T11:08:43.456Z = 18:08 in Hanoi
        #expect(d.bucketStart(.minute, t) == 1_795_000_080_000)
        #expect(d.bucketStart(.quarterHour, t) == 1_794_999_600_000)
        #expect(d.bucketStart(.hour, t) == 1_794_999_600_000)
        // Local midnight 2026-11-18T00:00+07:00 = 2026-11-17T17:00Z.
        #expect(d.bucketStart(.day, t) == 1_794_934_800_000)
        #expect(d.bucketStart(.minute, -1) == -60_000)
    }

    @Test func localDaysFollowDST() {
        var days = LocalDays(timeZone: TimeZone(identifier: "Europe/Berlin")!)
        // 2026-03-29 is 23 h long in Berlin: 2026-03-28T23:00Z ... 2026-03-29T22:00Z.
        let d = days.day(containing: 1_774_778_400_000)   // 2026-03-29T10:00Z
        #expect(d.start == 1_774_738_800_000)
        #expect(d.end - d.start == 23 * 3_600_000)
    }

    /// The table of day boundaries answers as the calendar does, through DST changes, in any
    /// order of times, far from where it was built, and through the read-only `lookup`.
    @Test(arguments: ["Europe/Berlin", "Asia/Ho_Chi_Minh", "America/Sao_Paulo"])
    func localDaysTableMatchesTheCalendar(zone: String) async throws {
        try await onOwnThread(checking: { try Self.localDaysMatchTheCalendar(zone, $0) })
    }

    @Sendable static func localDaysMatchTheCalendar(_ zone: String, _ check: Checks) throws {
        let tz = TimeZone(identifier: zone)!
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        var days = LocalDays(timeZone: tz)
        var rng = SplitMix64(seed: 11)
        let base: EpochMillis = 1_767_225_600_000   // 2026-01-01T00:00Z
        var lastJump: EpochMillis = base
        for i in 0..<20_000 {
            // Mostly near the previous time, sometimes a jump of up to two years either way.
            let t = i % 500 == 0 ? base + Int64(rng.next() % (730 * 86_400_000)) - 365 * 86_400_000
                                 : lastJump + Int64(rng.next() % (40 * 86_400_000)) - 20 * 86_400_000
            if i % 500 == 0 { lastJump = t }
            let start = cal.startOfDay(for: Date(timeIntervalSince1970: Double(EpochMillis.floorDiv(t, 1000))))
            let end = cal.date(byAdding: .day, value: 1, to: start)!
            let want = (EpochMillis(start.timeIntervalSince1970) * 1000, EpochMillis(end.timeIntervalSince1970) * 1000)
            let seen = days.lookup(t)
            let got = days.day(containing: t)
            check(got == want && seen == want, "\(zone) at \(t): \(got), lookup \(String(describing: seen)), not \(want)")
            if got != want || seen != want { return }
        }
    }
}

@Suite struct TelemetryStoreTests {
    /// Through SQLite: random batches, shuffled, duplicated, across restarts of the store;
    /// every tier's stored rows equal the recompute from the unique readings. With
    /// `deferring`, most commits defer their rollups and each store is dropped with merges
    /// still pending, as a killed process would leave them: the next store replays the journal.
    @Test(arguments: [(5, false), (17, false), (5, true), (23, true)])
    func storedTiersMatchRecompute(seed: UInt64, deferring: Bool) async throws {
        try await onOwnThread(checking: { try Self.storedTiersMatch(seed: seed, deferring: deferring, $0) })
    }

    @Sendable static func storedTiersMatch(seed: UInt64, deferring: Bool, _ check: Checks) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var rng = SplitMix64(seed: seed)
        let names = (0..<4).map { try! SeriesName(sensor: "s\($0)", metric: "v") }
        var readings = DownsamplerTests.stream(seed: seed, count: 4000)
        readings += readings.shuffled(using: &rng).prefix(800)
        readings.shuffle(using: &rng)
        var i = 0
        var restarts = 0
        while i < readings.count {
            // A new store (as after a restart) every so often: open buckets start empty again.
            let pool = try TelemetryDatabase.open(path: dir.file("t.sqlite"))
            let store = try TelemetryStore(pool: pool, timeZone: DownsamplerTests.hcm)
            let end = min(i + 1500, readings.count)
            while i < end {
                let n = Int(rng.next(below: 200)) + 1
                var batch = IngestBatch()
                let next = min(i + n, end)
                let chunk = readings[i..<next].map { Reading(series: names[$0.series.index], time: $0.time, value: $0.value) }
                check(store.bind(chunk, into: &batch))
                try store.commit(batch, now: 0, rollups: deferring && (next == end || rng.next(below: 4) != 0) ? .keep : .mergeNow)
                i = next
            }
            if deferring { check(store.hasPendingRollups) }
            restarts += 1
        }
        check(restarts > 1)
        let pool = try TelemetryDatabase.open(path: dir.file("t.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: DownsamplerTests.hcm)
        check(!store.hasPendingRollups)
        check(try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM rollup_journal")! } == 0)
        // Ids were assigned in first-seen order; map the oracle's ids through the names.
        let idOf = names.map { store.registry.id(of: $0)! }
        let stored = readings.map { BoundReading(series: idOf[$0.series.index], time: $0.time, value: $0.value) }
        let rawCount = try pool.read { try BlockStore.totalCount($0) }
        check(rawCount == Set(stored.map { [Int64($0.series.rawValue), $0.time] }).count)
        for tier in Tier.allCases {
            let expected = RollupOracle.recompute(stored, tier: tier, utcOffsetSeconds: 7 * 3600)
            // Rows and sealed blocks together (a bucket is in one of the two); a tier the
            // series does not store (`TierSizing`: sparse random times) has neither, and is
            // answered from its raw readings.
            let stored = try pool.read { db in
                var out = try Row.fetchAll(db, sql: "SELECT series_id, t, cnt, total, lo, hi, first_t, first_v, last_t, last_v FROM \(tier.table)")
                    .map { r in
                        (key: BucketKey(tier: tier, series: SeriesID(r[0]), start: r[1]),
                         bucket: Bucket(count: r[2], sum: r[3], min: r[4], max: r[5], firstTime: r[6], first: r[7], lastTime: r[8], last: r[9]))
                    }
                for id in idOf {
                    let sealed = try RollupBlockStore.buckets(tier: tier, series: id, from: .min, to: .max, db)
                    guard try TierSizing.isFromRaw(tier, series: id, db) else {
                        out += sealed.map { (key: BucketKey(tier: tier, series: id, start: $0.start), bucket: $0.bucket) }
                        continue
                    }
                    check(sealed.isEmpty && !out.contains { $0.key.series == id }, "tier \(tier) from raw, yet stored")
                    out += try TierSizing.rawBuckets(tier, series: id, days: LocalDays(timeZone: DownsamplerTests.hcm.zone),
                                                     from: .min, to: .max, db)
                        .map { (key: BucketKey(tier: tier, series: id, start: $0.start), bucket: $0.bucket) }
                }
                return out
            }
            check(stored.count == expected.count, "tier \(tier)")
            for (key, b) in stored {
                check(expected[key].map { sameBucket(b, $0) } == true, "tier \(tier) series \(key.series) bucket \(key.start)")
            }
        }
    }

    @Test func migrationsOnEmptyFileAndReopen() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("sub/dir/c.sqlite")
        do {
            let pool = try TelemetryDatabase.open(path: path)
            let store = try TelemetryStore(pool: pool, timeZone: .utc)
            var batch = IngestBatch()
            #expect(store.bind([Reading(series: try SeriesName(parsing: "a/x"), time: 1000, value: 1),
                                Reading(series: try SeriesName(parsing: "b/y"), time: 1000, value: 2)], into: &batch))
            let stats = try store.commit(batch, now: 5)
            #expect(stats.inserted == 2)
        }
        let pool = try TelemetryDatabase.open(path: path)
        let applied = try pool.read { try TelemetryDatabase.migrator.appliedMigrations($0) }
        #expect(applied == ["v1: series, raw readings, rollups, quarantine", "v2: series labels from topic patterns",
                            "v3: rollup journal for deferred rollup merges", "v4: rollups move to their own file",
                            "v5: one packed journal row per commit", "v6: how far derived series are committed",
                            "v7: raw readings in sample blocks", "v8: journal packs of per-series sample blocks",
                            "v9: a series' place label is an administrative unit"])
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        #expect(store.registry.count == 2)
        #expect(store.registry.id(of: try SeriesName(parsing: "b/y")) == SeriesID(1))
        var batch = IngestBatch()
        #expect(store.bind([Reading(series: try SeriesName(parsing: "b/y"), time: 1000, value: 9)], into: &batch))
        let stats = try store.commit(batch, now: 6)
        #expect(stats.inserted == 0 && stats.duplicates == 1)
    }

    /// Deferred rollups are invisible until merged; a commit that fails (a full disk) between
    /// deferring commits loses nothing and counts nothing twice; last values follow the merge.
    @Test func deferredRollupsSurviveAFailedCommit() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let name = try SeriesName(parsing: "a/x")
        func batch(_ times: Range<Int>) -> IngestBatch {
            var b = IngestBatch()
            #expect(store.bind(times.map { Reading(series: name, time: EpochMillis($0) * 1000, value: Double($0)) }, into: &b))
            return b
        }
        func hourTotal() throws -> (Int, Double)? {
            try pool.read { db in try Row.fetchOne(db, sql: "SELECT cnt, total FROM rollup_1h").map { ($0[0], $0[1]) } }
        }
        try store.commit(batch(0..<10), now: 0)
        try store.commit(batch(10..<20), now: 0, rollups: .keep)
        #expect(try hourTotal()! == (10, 45), "deferred readings are not in the rollups yet")
        #expect(store.hasPendingRollups && store.pendingReadings == 10)

        // The file may not grow: the next commit fails and is rolled back.
        let pages = try pool.read { try Int64.fetchOne($0, sql: "PRAGMA page_count")! }
        try pool.barrierWriteWithoutTransaction { try TelemetryDatabase.setMaxSize($0, pages * 4096) }
        // (Values of every bit pattern: a journal pack of them needs more than the free space
        // the file has, as 3,000 readings of a slow sensor would not.)
        var rng = SplitMix64(seed: 1)
        var noisy = IngestBatch()
        #expect(store.bind((20..<3000).map { Reading(series: name, time: EpochMillis($0) * 1000,
                                                     value: Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF)) }, into: &noisy))
        #expect(throws: (any Error).self) { try store.commit(noisy, now: 0, rollups: .keep) }
        try pool.barrierWriteWithoutTransaction { try TelemetryDatabase.setMaxSize($0, 1 << 30) }
        try store.commit(batch(20..<3000), now: 0, rollups: .keep)
        try store.commit(batch(15..<25), now: 0, rollups: .keep)          // duplicates only
        try store.mergeRollups()
        #expect(!store.hasPendingRollups)
        let n = 3000
        #expect(try hourTotal()! == (n, Double(n * (n - 1) / 2)))
        // The journal goes once its readings are merged and in `raw` (`series.last_*` with them).
        try store.writePendingRaw()
        try store.mergeRollups()
        let last = try pool.read { try Row.fetchOne($0, sql: "SELECT last_t, last_value FROM series")! }
        #expect(last[0] as Int64 == 2_999_000 && last[1] as Double == 2999)
        #expect(try pool.read { try BlockStore.totalCount($0) } == n)
        #expect(try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM rollup_journal")! } == 0)
    }

    @Test func foreignFileIsAnErrorNotReplaced() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let junk = Data(repeating: 0x42, count: 8192)
        try junk.write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { _ = try TelemetryDatabase.open(path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == junk)
    }

    @Test func seriesLimitRejectsWholeMessage() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try TelemetryStore(pool: try TelemetryDatabase.open(path: dir.file("c.sqlite")), timeZone: .utc, maxSeries: 2)
        var batch = IngestBatch()
        let r = { (n: String) in Reading(series: try! SeriesName(parsing: n), time: 0, value: 0) }
        #expect(store.bind([r("a/x")], into: &batch))
        #expect(!store.bind([r("a/x"), r("b/x"), r("c/x")], into: &batch))
        #expect(batch.readings.count == 1)
        #expect(store.bind([r("a/x"), r("b/x")], into: &batch))
        #expect(store.registry.count == 2)
    }

    /// The backfill's binding by name index: each name interned once, all or nothing at the
    /// cap as `bind`, and a refused name bound later when it fits.
    @Test func indexedReadingsAreBoundOncePerName() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try TelemetryStore(pool: try TelemetryDatabase.open(path: dir.file("c.sqlite")), timeZone: .utc, maxSeries: 2)
        var batch = IngestBatch()
        _ = store.bind([Reading(series: try SeriesName(parsing: "b/x"), time: 0, value: 0)], into: &batch)   // known before
        let names = try ["a/x", "b/x", "c/x"].map { try SeriesName(parsing: $0) }
        let r = { (k: Int32, t: Int64) in IndexedReading(name: k, time: t, value: Double(t)) }
        var ids: [Int32] = []
        #expect(store.bind([r(0, 1), r(1, 1), r(0, 2)], names: names, ids: &ids, into: &batch))
        #expect(ids == [1, 0, -1])
        #expect(batch.readings.map(\.series.rawValue) == [0, 1, 0, 1])
        #expect(!store.bind([r(1, 3), r(2, 3)], names: names, ids: &ids, into: &batch))   // c/x: a third series
        #expect(ids == [1, 0, -1] && batch.readings.count == 4 && store.registry.count == 2)
        #expect(store.bind([r(1, 4), r(0, 4)], names: names, ids: &ids, into: &batch))    // known ones go on
        #expect(batch.readings.suffix(2).map(\.series.rawValue) == [0, 1])
    }

    /// Derived readings have their own room beyond the cap, and are bound one by one: a
    /// network publisher filling `max_series` does not stop them, and past the reserve only
    /// the readings of series that do not fit are left out (before, the whole batch was).
    @Test func derivedReadingsHaveARoomOfTheirOwn() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try TelemetryStore(pool: try TelemetryDatabase.open(path: dir.file("c.sqlite")), timeZone: .utc, maxSeries: 2,
                                       derivedReserve: 2)
        var batch = IngestBatch()
        let r = { (n: String) in Reading(series: try! SeriesName(parsing: n), time: 0, value: 0) }
        #expect(store.bind([r("a/x"), r("b/x")], into: &batch))
        #expect(!store.bind([r("c/x")], into: &batch))          // the network's cap is full
        var derived = [r("a/x_24h"), r("a/x"), r("b/x_24h"), r("c/x_24h")]
        #expect(store.bindDerived(&derived, into: &batch) == 1)  // the reserve holds two
        #expect(derived.map(\.series.description) == ["a/x_24h", "a/x", "b/x_24h"])
        #expect(batch.readings.count == 5 && store.registry.count == 4)
        #expect(!store.bind([r("c/x")], into: &batch))          // still full for the network
        #expect(store.bind([r("a/x"), r("b/x")], into: &batch))  // its known series go on
    }

    /// `series.last_*` follows `raw` and never goes back; readers add a newer pending reading.
    @Test func lastValueNeverGoesBack() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let name = try SeriesName(parsing: "a/x")
        func commit(_ t: Int, _ v: Double) throws {
            var batch = IngestBatch()
            _ = store.bind([Reading(series: name, time: EpochMillis(t), value: v)], into: &batch)
            try store.commit(batch, now: 0)
        }
        func stored() throws -> (EpochMillis?, Double?) {
            try pool.read { db in try Row.fetchOne(db, sql: "SELECT last_t, last_value FROM series").map { ($0[0], $0[1]) }! }
        }
        for (t, v) in [(5000, 5.0), (9000, 9.0), (7000, 7.0)] {
            try commit(t, v)
            try store.writePendingRaw()   // each in `raw` before the next
        }
        #expect(try stored() == (9000, 9.0))
        try commit(11000, 11.0)
        #expect(try stored() == (9000, 9.0), "pending: not in `raw` yet")
        let reader = TelemetryReader(pool: pool, timeZone: .utc, pending: store.rawPending)
        let info = try await reader.seriesList()
        #expect(info.count == 1 && info.first?.lastTime == 11000 && info.first?.lastValue == 11)
        #expect(try await reader.sensorsLastSeen() == ["a": 11000])
        #expect(try await TelemetryReader(pool: pool, timeZone: .utc).sensorsLastSeen() == ["a": 9000])
        // A ring filled from storage on first use, in time order.
        #expect(RecentSamples(pool: pool, pending: store.rawPending).recent(SeriesID(0)).map(\.time) == [5000, 7000, 9000, 11000])
        try store.writePendingRaw()
        #expect(try stored() == (11000, 11.0))
    }
}

@Suite struct RetentionTests {
    @Test func pruneKeepsRollupsAndNewerRaw() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        var batch = IngestBatch()
        let names = try ["a/x", "b/y", "c/z"].map { try SeriesName(parsing: $0) }
        let readings = names.flatMap { n in (0..<100).map { Reading(series: n, time: EpochMillis($0) * 60_000, value: 1) } }
        #expect(store.bind(readings, into: &batch))
        try store.commit(batch, now: 0)
        try store.writePendingRaw()   // pruning works on the blocks, not on readings still pending
        let deleted = try store.pruneRaw(before: 40 * 60_000, seriesPerCommit: 2)
        #expect(deleted == 3 * 40)
        let raw = try pool.read { try BlockStore.totalCount($0) }
        let oldest = try pool.read { db in try names.compactMap { try BlockStore.samples(series: store.registry.id(of: $0)!, from: .min, to: .max, db).first?.time }.min()! }
        let hourRows = try pool.read { try Int.fetchOne($0, sql: "SELECT sum(cnt) FROM rollup_1h")! }
        #expect(raw == 3 * 60 && oldest == 40 * 60_000)
        #expect(hourRows == 300, "rollups keep the pruned readings")
    }
}

@Suite struct BatchOrderTests {
    /// A batch goes to storage in key order, but the later stages get its new readings in
    /// arrival order; of two readings with the same (series, time), the first to arrive wins.
    @Test func arrivalOrderKeptAndFirstTwinWins() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try TelemetryStore(pool: try TelemetryDatabase.open(path: dir.file("c.sqlite")), timeZone: .utc)
        let b = try SeriesName(parsing: "b/y"), a = try SeriesName(parsing: "a/x")
        var batch = IngestBatch()
        #expect(store.bind([Reading(series: b, time: 2000, value: 1), Reading(series: a, time: 1000, value: 2),
                            Reading(series: b, time: 1000, value: 3), Reading(series: b, time: 2000, value: 4)], into: &batch))
        let stats = try store.commit(batch, now: 0)
        #expect(stats.inserted == 3 && stats.duplicates == 1)
        #expect(store.committed.map(\.value) == [1, 2, 3])
        #expect(try RecentSamples(pool: store.pool, pending: store.rawPending).stored(b, from: 0, to: 10_000)?.samples.map(\.value) == [3, 1])
        try store.writePendingRaw()
        #expect(try RecentSamples(pool: store.pool).stored(b, from: 0, to: 10_000)?.samples.map(\.value) == [3, 1])
        let hour = try store.pool.read { try Row.fetchOne($0, sql: "SELECT cnt, total FROM rollup_1h WHERE series_id = 0") }
        #expect(hour?[0] == 2 && hour?[1] == 4.0)
    }
}

@Suite struct WALCheckpointerTests {
    /// The checkpointer copies committed pages back beside the writer, whose own automatic
    /// checkpoint now waits for `walSafetyPages`.
    @Test func copiesTheWALBesideTheWriter() async throws {
        try await onOwnThread(checking: Self.copyTheWALBesideTheWriter)
    }

    @Sendable static func copyTheWALBesideTheWriter(_ check: Checks) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: .utc)
        let names = try (0..<50).map { try SeriesName(parsing: "s\($0)/x") }
        // Two commits and their raw writes, the first past SQLite's default 1,000 pages: had
        // the writer checkpointed after it, the second would have started the WAL over.
        // (Values of every bit pattern and uneven times: compressed blocks of a steady sensor
        // would not fill 1,000 pages.)
        var rng = SplitMix64(seed: 2)
        for minutes in [0..<2_000, 2_000..<2_010] {
            var batch = IngestBatch()
            check(store.bind(names.flatMap { n in
                minutes.map { Reading(series: n, time: EpochMillis($0) * 60_000 + EpochMillis(rng.next() % 50_000),
                                      value: Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF)) }
            }, into: &batch))
            try store.commit(batch, now: 0)
            try store.writePendingRaw()
        }
        let limit = try pool.barrierWriteWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") }
        check(limit == TelemetryDatabase.walSafetyPages)
        let checkpointer = try WALCheckpointer(path: dir.file("c.sqlite"))
        let (wal, copied) = try checkpointer.checkpoint()
        check(wal > 1_000 && copied == wal, "wal \(wal) pages, copied \(copied)")
        checkpointer.start()
        checkpointer.stop()
    }
}

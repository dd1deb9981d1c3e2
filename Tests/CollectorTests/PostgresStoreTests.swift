import Foundation
import Synchronization
import Testing
import Telemetry
@testable import Collector

/// The shared PostgreSQL store (`PostgresStore`) against a real primary with a synchronous
/// replica: readings in any order, repeated and late, give exactly the blocks and rollups a
/// recompute gives; two collectors share one database; a stale partition holder's commit
/// stores nothing; and a failover under a stream of commits loses no acknowledged reading and
/// counts none twice.
@Suite(.serialized) struct PostgresStoreTests {
    static let tz = TimeZoneID("Asia/Ho_Chi_Minh")!
    /// 2026-11-18T00:00+07:00
    static let t0: EpochMillis = 1_794_934_800_000

    /// What the store must hold: per series, the first value given at each time.
    struct Expected {
        var samples: [SeriesName: [EpochMillis: Double]] = [:]
        /// The zone the day buckets are cut in.
        var zone = PostgresStoreTests.tz

        mutating func add(_ readings: [Reading]) {
            for r in readings where samples[r.series]?[r.time] == nil { samples[r.series, default: [:]][r.time] = r.value }
        }

        /// Each tier's buckets recomputed from the samples with plain comparisons, days by
        /// Foundation's calendar (not the store's code).
        func buckets(_ name: SeriesName, _ tier: Tier) -> [EpochMillis: Bucket] {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone.zone
            var out: [EpochMillis: Bucket] = [:]
            for (t, v) in (samples[name] ?? [:]).sorted(by: { $0.key < $1.key }) {
                let start: EpochMillis
                if tier == .day {
                    let date = Date(timeIntervalSince1970: Double(t) / 1000)
                    start = EpochMillis(calendar.startOfDay(for: date).timeIntervalSince1970 * 1000)
                } else {
                    start = EpochMillis.floorDiv(t, tier.widthMillis) * tier.widthMillis
                }
                if var b = out[start] {
                    b.count += 1; b.sum += v; b.min = min(b.min, v); b.max = max(b.max, v)
                    b.lastTime = t; b.last = v   // in time order: the latest is last
                    out[start] = b
                } else {
                    out[start] = Bucket(count: 1, sum: v, min: v, max: v, firstTime: t, first: v, lastTime: t, last: v)
                }
            }
            return out
        }

        /// Every difference between `store` and what it must hold.
        func differences(_ store: PostgresStore) throws -> [String] {
            var found: [String] = []
            for (name, byTime) in samples.sorted(by: { $0.key.description < $1.key.description }) {
                let want = byTime.sorted { $0.key < $1.key }.map { Sample(time: $0.key, value: $0.value) }
                let got = try store.samples(name, from: .min, to: .max)
                if got != want { found.append("\(name): \(got.count) samples stored, \(want.count) expected") }
                for tier in Tier.allCases {
                    let want = buckets(name, tier)
                    let got = try store.buckets(name, tier: tier, from: .min, to: .max)
                    if got.count != want.count { found.append("\(name) \(tier): \(got.count) buckets, \(want.count) expected") }
                    for (start, b) in got {
                        guard let w = want[start] else { found.append("\(name) \(tier) \(start): extra"); continue }
                        let same = b.count == w.count && b.min == w.min && b.max == w.max && b.firstTime == w.firstTime
                            && b.first == w.first && b.lastTime == w.lastTime && b.last == w.last
                            && abs(b.sum - w.sum) <= 1e-9 * max(1, abs(w.sum))
                        if !same { found.append("\(name) \(tier) \(start): stored \(b), expected \(w)") }
                    }
                }
            }
            return found
        }
    }

    /// Readings of `series` series every 30 s over two days, cut into commits of `size`, each
    /// commit shuffled, a tenth of its readings and of the previous commit's sent again with
    /// another value (the first must stay), and a run of them held back and sent a day late.
    static func stream(series: Int, size: Int, seed: UInt64) throws -> [[Reading]] {
        var rng = SplitMix64(seed: seed)
        let names = try (0..<series).map { try SeriesName(sensor: "st-\($0 % 7)", metric: "m\($0)") }
        var all: [Reading] = []
        for k in 0..<5_760 {
            for name in names where Int.random(in: 0..<4, using: &rng) > 0 {
                all.append(Reading(series: name, time: t0 + EpochMillis(k) * 30_000, value: Double(Int.random(in: -500...500, using: &rng)) / 8))
            }
        }
        let late = all[20_000..<23_000]
        var order = Array(all[..<20_000]) + Array(all[23_000...])
        order.insert(contentsOf: late, at: order.count * 3 / 4)
        var commits: [[Reading]] = stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min($0 + size, order.count)]) }
        for k in commits.indices {
            commits[k].shuffle(using: &rng)
            // Repeats of this commit's readings and of the one before's, with other values.
            let previous = k > 0 ? Array(commits[k - 1].prefix(size / 10)) : []
            let repeats = (commits[k].prefix(size / 10) + previous).map { Reading(series: $0.series, time: $0.time, value: $0.value + 1000) }
            commits[k] += repeats
        }
        return commits
    }

    @Test(.timeLimit(.minutes(3))) func readingsInAnyOrderGiveExactBlocksAndRollups() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }

        let store = try PostgresStore(url: pg.url, timeZone: Self.tz)
        var expected = Expected()
        var inserted = 0, duplicates = 0
        let commits = try Self.stream(series: 12, size: 2_000, seed: 3)
        for readings in commits {
            let stats = try store.commit(readings)
            expected.add(readings)
            inserted += stats.inserted
            duplicates += stats.duplicates
        }
        let distinct = expected.samples.values.reduce(0) { $0 + $1.count }
        #expect(distinct > 40_000)
        #expect(inserted == distinct)
        #expect(duplicates == commits.reduce(0) { $0 + $1.count } - distinct)
        let found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.count) differences, first: \(found.prefix(3))")
        // The verifier `collector verify` runs finds every tier equal to its recompute.
        let report = try await RollupVerifier(source: store, timeZone: Self.tz).verify(from: 0)
        #expect(report.isExact && report.readings == distinct && report.series == 12, "\(report.mismatches)")
        // Read in pages from a time inside a block, as `collector verify` reads.
        let paged = try SeriesName(sensor: "st-2", metric: "m2")
        let pagedID = try #require(try store.seriesID(paged))
        let start = Self.t0 + 3 * 3_600_000 + 15_000
        var pages: [Sample] = []
        var more = true
        while more {
            let page = try store.samples(pagedID, from: pages.last.map { $0.time + 1 } ?? start, to: .max, limit: 97)
            pages += page.samples
            more = page.more
            #expect(page.samples.count == 97 || !more)
        }
        #expect(pages == expected.samples[paged]!.filter { $0.key >= start }.sorted { $0.key < $1.key }.map { Sample(time: $0.key, value: $0.value) })
        // Many series a statement, each from its own time (a takeover's catch-up): pages of 3
        // blocks cut series in the middle, and 5 series a statement; every sample comes once.
        let ids = try expected.samples.keys.map { (try #require(try store.seriesID($0)), $0) }.sorted { $0.0.rawValue < $1.0.rawValue }
        let froms = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1.0, Self.t0 + EpochMillis($0) * 2_345_000 + 15_000) })
        var wanted = ids.map { (id: $0.0, from: froms[$0.0]!) }
        var got: [SeriesID: [Sample]] = [:]
        var statements = 0
        var chunk = 5
        while !wanted.isEmpty && statements < 2_000 {
            let page = try store.samples(of: wanted, series: min(chunk, 5), blocks: 3)
            for run in page.runs { got[run.id, default: []] += run.samples }
            (wanted, chunk) = (page.rest, page.series)
            statements += 1
        }
        #expect(statements > 12 && wanted.isEmpty)
        for (id, name) in ids {
            let want = expected.samples[name]!.filter { $0.key >= froms[id]! }.sorted { $0.key < $1.key }.map { Sample(time: $0.key, value: $0.value) }
            let same = got[id] == want   // (not the arrays in a failure's message: thousands of samples)
            #expect(same, "\(name): \(got[id]?.count ?? 0) samples read, \(want.count) stored")
        }
        // The same by name, read ahead for a round of the province's scopes: the history
        // answers from what it read (a range inside it, or all of it), and from the store for
        // a time before it; a series never stored has nothing.
        let history = PostgresHistory(store: store)
        let nowhere = try SeriesName(sensor: "nowhere", metric: "m0")
        try history.prefetch(Dictionary(uniqueKeysWithValues: ids.map { ($0.1, froms[$0.0]!) } + [(nowhere, EpochMillis(0))]))
        for (id, name) in ids {
            let f = froms[id]!
            for (a, b) in [(f, EpochMillis.max), (f + 600_000, f + 3_600_000), (f - 60_000, f + 60_000)] {
                let same = try history.stored(name, from: a, to: b) == store.samples(name, from: a, to: b)
                #expect(same, "\(name) from \(a) to \(b)")
            }
        }
        #expect(try history.stored(nowhere, from: 0, to: .max).isEmpty)
        // The newest sample before a time: from what it read, or from the store before that.
        for (id, name) in ids {
            let f = froms[id]!
            for before in [f - 1, f, f + 1, f + 45_000, f + 7_200_000, EpochMillis.max] {
                let same = try history.lastStored(name, before: before) == store.sample(name, before: before)
                #expect(same, "\(name) before \(before)")
            }
        }
        // What it read is what it answers until it forgets it (a round's reads agree).
        let (firstID, firstName) = ids[0]
        let added = Reading(series: firstName, time: Self.t0 + 6_000 * 30_000 + 1, value: 9)
        try store.commit([added])
        #expect(try history.stored(firstName, from: froms[firstID]!, to: .max).last?.time != added.time)
        history.forgetPrefetched()
        #expect(try history.stored(firstName, from: froms[firstID]!, to: .max).last == Sample(time: added.time, value: 9))
        expected.add([added])
        // Everything sent again is a duplicate and changes nothing.
        let again = try store.commit(commits[3] + commits[commits.count - 2])
        #expect(again.inserted == 0)
        let afterRepeat = try expected.differences(store)
        #expect(afterRepeat.isEmpty, "\(afterRepeat.count) differences, first: \(afterRepeat.prefix(3))")

        // A second collector on the same database sees the same series and readings, and adds
        // its own beside them.
        let other = try PostgresStore(url: pg.url, timeZone: Self.tz)
        #expect(Set(try other.seriesNames()) == Set(expected.samples.keys))
        let mine = try (0..<50).map { Reading(series: try SeriesName(sensor: "st-0", metric: "m0"), time: Self.t0 + 7 + EpochMillis($0) * 60_000, value: 1) }
        try other.commit(mine)
        expected.add(mine)
        let shared = try expected.differences(store)
        #expect(shared.isEmpty, "\(shared.count) differences, first: \(shared.prefix(3))")
        // The store keeps the time zone its day buckets were cut in.
        #expect(throws: PostgresStore.Refused.self) { try PostgresStore(url: pg.url, timeZone: .utc) }
    }

    @Test(.timeLimit(.minutes(2))) func aStaleHolderStoresNothing() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        // The fence's table as stores before the holder column made it: opening the store adds it.
        let before = try PostgresConnection(pg.url)
        try before.execute("CREATE TABLE partition_fence (partition text PRIMARY KEY, token bigint NOT NULL)")
        try before.execute("INSERT INTO partition_fence VALUES ('north', 2)")

        let old = try PostgresStore(url: pg.url, timeZone: Self.tz)
        let new = try PostgresStore(url: pg.url, timeZone: Self.tz)
        let name = try SeriesName(sensor: "rv-1", metric: "level_m")
        func readings(_ from: Int, _ n: Int, _ v: Double) -> [Reading] {
            (from..<from + n).map { Reading(series: name, time: Self.t0 + EpochMillis($0) * 60_000, value: v) }
        }
        var expected = Expected()
        try old.commit(readings(0, 30, 1), fence: .init(partition: "north", token: 4))
        expected.add(readings(0, 30, 1))
        // The lease passed to `new` (a newer token), which commits; the old holder, woken,
        // tries to commit readings and a quarantined message.
        try new.commit(readings(30, 30, 2), fence: .init(partition: "north", token: 9))
        expected.add(readings(30, 30, 2))
        // (Text that needs quoting in an array, and a NUL, which PostgreSQL text cannot hold.)
        let bad = QuarantineRecord(received: Self.t0, topic: #"gw/"north",{1}\ NULL"#, reason: "bad_json",
                                   detail: "byte \u{0} at 3: 'ĐẮK'", payload: [0, 1, 2, 255])
        #expect(throws: PartitionFence.Stale.self) {
            try old.commit(readings(25, 60, 3), quarantine: [bad], fence: .init(partition: "north", token: 4))
        }
        let found = try expected.differences(new)
        #expect(found.isEmpty, "\(found.prefix(3))")
        #expect(try new.quarantined().isEmpty)
        // Another partition is not fenced by this one.
        try old.commit([], quarantine: [bad], fence: .init(partition: "south", token: 1))
        var stored = bad
        stored.detail = "byte \u{FFFD} at 3: 'ĐẮK'"
        #expect(try new.quarantined() == [stored])
        // Quarantine is bounded: the oldest go first.
        let small = try PostgresStore(url: pg.url, timeZone: Self.tz, quarantineLimit: 2)
        let many = (0..<5).map { QuarantineRecord(received: Self.t0 + EpochMillis($0), topic: "t\($0)", reason: "bad_json", detail: "d", payload: [UInt8($0)]) }
        try small.commit([], quarantine: many)
        #expect(try small.quarantined().map(\.topic) == ["t3", "t4"])
    }

    /// The members of province-wide scopes note their changes (`series_changes`): a commit's
    /// earliest new time, the earliest kept across commits, a correction's `from`; other
    /// series and duplicates note nothing. Clearing takes only what was read (a later commit's
    /// note stays), and only with the province's current token, in the same transaction as the
    /// scopes' corrections.
    @Test(.timeLimit(.minutes(2))) func trackedSeriesNoteTheirChanges() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let store = try PostgresStore(url: pg.url, timeZone: Self.tz, tracks: SharedScopes.tracks)
        let member = try SeriesName(sensor: "hy-1", metric: "flood_risk_level")
        let scope = try SeriesName(sensor: "zone.z1", metric: "flood_risk_level")
        let junction = try SeriesName(sensor: "junction.j1", metric: "congestion")
        let other = try SeriesName(sensor: "hy-1", metric: "level_m")
        func at(_ m: Int) -> EpochMillis { Self.t0 + EpochMillis(m) * 60_000 }
        try store.commit([Reading(series: member, time: at(10), value: 1), Reading(series: member, time: at(20), value: 2),
                          Reading(series: other, time: at(5), value: 3), Reading(series: scope, time: at(10), value: 2),
                          Reading(series: junction, time: at(10), value: 0.5)])
        var changes = try store.changes()
        #expect(changes.map(\.name) == [member] && changes.first?.from == at(10))
        try store.commit([Reading(series: member, time: at(20), value: 9)])   // a duplicate: no change
        #expect(try store.changes() == changes)
        try store.commit([Reading(series: member, time: at(15), value: 1)])   // later than the note's time: kept, seq raised
        let raised = try store.changes()
        #expect(raised.first?.from == at(10) && raised.first?.seq == (changes.first?.seq ?? 0) + 1)
        // Cleared with the seq read before the last commit: the note stays.
        try store.replace([], fence: .init(partition: "(province)", token: 3), clearing: changes)
        #expect(try store.changes() == raised)
        // A stale token clears nothing and corrects nothing.
        try store.replace([], fence: .init(partition: "(province)", token: 5), clearing: changes)   // (a newer holder)
        #expect(throws: PartitionFence.Stale.self) {
            try store.replace([SeriesCorrection(series: scope, from: at(0), samples: [])], fence: .init(partition: "(province)", token: 4),
                              clearing: raised)
        }
        #expect(try store.changes() == raised && store.samples(scope, from: .min, to: .max).count == 1)
        try store.replace([SeriesCorrection(series: scope, from: at(0), samples: [Sample(time: at(10), value: 1)])],
                          fence: .init(partition: "(province)", token: 5), clearing: raised)
        #expect(try store.changes().isEmpty)   // (the scope's own correction notes nothing)
        // A member's correction notes its `from`.
        try store.replace([SeriesCorrection(series: member, from: at(12), samples: [Sample(time: at(12), value: 2)])])
        changes = try store.changes()
        #expect(changes.map(\.name) == [member] && changes.first?.from == at(12))
    }

    /// A derived series corrected after late inputs (`replace`): its samples from `from` on
    /// are the correction's, every tier equals the recompute of what is then stored (buckets
    /// that straddle `from`, days included), its newest reading follows, a neighbour series is
    /// untouched; sent again it changes nothing; a stale holder's correction stores nothing.
    /// In India's time zone (+5:30), where a day starts in the middle of an hour bucket: each
    /// tier's buckets are recomputed from its own bucket holding `from`.
    @Test(.timeLimit(.minutes(2))) func aCorrectionReplacesSamplesAndSetsEveryTier() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let tz = TimeZoneID("Asia/Kolkata")!
        let store = try PostgresStore(url: pg.url, timeZone: tz)
        let derived = try SeriesName(sensor: "district-muong-te", metric: "rain_24h_mm")
        let neighbour = try SeriesName(sensor: "district-sin-ho", metric: "rain_24h_mm")
        // Three days every 10 minutes (several blocks), a value that never repeats.
        var readings: [Reading] = []
        for k in 0..<432 {
            let t: EpochMillis = Self.t0 + EpochMillis(k) * 600_000
            readings.append(Reading(series: derived, time: t, value: Double(k) / 4))
            readings.append(Reading(series: neighbour, time: t, value: -Double(k)))
        }
        try store.commit(readings, fence: .init(partition: "north", token: 2))
        var expected = Expected(zone: tz)
        expected.add(readings)
        // From 18:43 UTC on the second day (00:13 in India: the hour bucket from 18:00 UTC holds
        // the end of one local day and the start of the next): new values, none after 60 h.
        let from = Self.t0 + 25 * 3_600_000 + 43 * 60_000
        let until: EpochMillis = Self.t0 + 60 * 3_600_000
        let new: [Sample] = stride(from: from + 3 * 60_000, to: until, by: 600_000).map { (t: EpochMillis) in
            Sample(time: t, value: Double(t % 977) + 0.5)
        }
        let correction = SeriesCorrection(series: derived, from: from, samples: new)
        try store.replace([correction], fence: .init(partition: "north", token: 2))
        expected.samples[derived] = expected.samples[derived]!.filter { $0.key < from }
        for s in new { expected.samples[derived]![s.time] = s.value }
        var found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.count) differences, first: \(found.prefix(3))")
        #expect(try store.latest(derived) == new.last)
        let report = try await RollupVerifier(source: store, timeZone: tz).verify(from: 0)
        #expect(report.isExact && report.series == 2, "\(report.mismatches)")
        // Again: the same. Then a correction that leaves nothing from its `from` on: the newest
        // reading is the last one before it.
        try store.replace([correction])
        found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.prefix(3))")
        let cut = Self.t0 + 20 * 3_600_000
        try store.replace([SeriesCorrection(series: derived, from: cut, samples: [])])
        expected.samples[derived] = expected.samples[derived]!.filter { $0.key < cut }
        found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.prefix(3))")
        #expect(try store.latest(derived) == Sample(time: cut - 600_000, value: Double(20 * 6 - 1) / 4))
        // Several series in one call (a round of the province's scopes): each from its own
        // time, one left with nothing at all, one given a sample inside a block.
        let third = try SeriesName(sensor: "district-tam-duong", metric: "rain_24h_mm")
        let thirds = (0..<50).map { Reading(series: third, time: Self.t0 + EpochMillis($0) * 600_000, value: 1) }
        try store.commit(thirds, fence: .init(partition: "north", token: 2))
        expected.add(thirds)
        let nFrom = Self.t0 + 40 * 3_600_000 + 7 * 60_000
        let nNew = stride(from: nFrom, to: nFrom + 10 * 3_600_000, by: 300_000).map { Sample(time: $0, value: Double($0 % 131)) }
        let dFrom = Self.t0 + 5 * 3_600_000 + 1
        try store.replace([SeriesCorrection(series: neighbour, from: nFrom, samples: nNew),
                           SeriesCorrection(series: third, from: Self.t0 - 1, samples: []),
                           SeriesCorrection(series: derived, from: dFrom, samples: [Sample(time: dFrom, value: 7)])],
                          fence: .init(partition: "north", token: 2))
        expected.samples[neighbour] = expected.samples[neighbour]!.filter { $0.key < nFrom }
        for s in nNew { expected.samples[neighbour]![s.time] = s.value }
        expected.samples[third] = [:]
        expected.samples[derived] = expected.samples[derived]!.filter { $0.key < dFrom }
        expected.samples[derived]![dFrom] = 7
        found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.prefix(3))")
        #expect(try store.latest(neighbour) == nNew.last)
        #expect(try store.latest(derived) == Sample(time: dFrom, value: 7))
        #expect(try store.latest(third) == nil)
        let again = try await RollupVerifier(source: store, timeZone: tz).verify(from: 0)
        #expect(again.isExact, "\(again.mismatches)")
        // A holder whose lease passed on corrects nothing.
        try store.commit([], fence: .init(partition: "north", token: 5))
        #expect(throws: PartitionFence.Stale.self) {
            try store.replace([SeriesCorrection(series: derived, from: Self.t0, samples: [])], fence: .init(partition: "north", token: 2))
        }
        found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.prefix(3))")
    }

    /// Retention in the shared store drops whole blocks past the horizon, a few at a time:
    /// everything from the horizon on stays exact, at most one block of each series (and tier)
    /// reaches back before it, other tiers are untouched, and a second run drops nothing.
    @Test(.timeLimit(.minutes(2))) func retentionDropsWholeBlocksPastTheHorizon() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let store = try PostgresStore(url: pg.url, timeZone: Self.tz)
        let slow = try SeriesName(sensor: "rv-1", metric: "level_m"), fast = try SeriesName(sensor: "ws-1", metric: "temp_c")
        var readings: [Reading] = []
        for k in 0..<(6 * 1_440) {
            let t: EpochMillis = Self.t0 + EpochMillis(k) * 60_000
            readings.append(Reading(series: fast, time: t, value: Double(k % 97) / 4))
            if k % 10 == 0 { readings.append(Reading(series: slow, time: t, value: Double(k % 13))) }
        }
        for chunk in stride(from: 0, to: readings.count, by: 2_000) { try store.commit(Array(readings[chunk..<min(chunk + 2_000, readings.count)])) }
        var expected = Expected()
        expected.add(readings)
        let horizon: EpochMillis = Self.t0 + 3 * 86_400_000 + 7 * 60_000
        #expect(try store.pruneRaw(before: horizon, perStatement: 3) > 10)
        #expect(try store.pruneRollups(.minute, before: horizon, perStatement: 3) > 10)
        for name in [slow, fast] {
            let want = expected.samples[name]!.filter { $0.key >= horizon }.sorted { $0.key < $1.key }.map { Sample(time: $0.key, value: $0.value) }
            let got = try store.samples(name, from: .min, to: .max)
            #expect(Array(got.drop { $0.time < horizon }) == want)
            #expect(got.count { $0.time < horizon } < 256)   // (a block holds at most 256)
            let minutes = try store.buckets(name, tier: .minute, from: .min, to: .max)
            let wantMinutes = expected.buckets(name, .minute)
            #expect(minutes.filter { $0.start >= horizon }.allSatisfy { wantMinutes[$0.start] == $0.bucket })
            #expect(minutes.count { $0.start >= horizon } == wantMinutes.count { $0.key >= horizon })
            #expect(minutes.count { $0.start < horizon } < 128)   // (and 128 buckets)
            let hours = try store.buckets(name, tier: .hour, from: .min, to: .max)
            #expect(hours.count == expected.buckets(name, .hour).count)
        }
        #expect(try store.pruneRaw(before: horizon) == 0)
        #expect(try store.pruneRollups(.minute, before: horizon) == 0)
    }

    /// A writer commits a stream while the primary is SIGKILLed and the replica promoted; it
    /// sends each commit again until it is answered (what the ingest loop does: nothing is
    /// acknowledged before). Afterwards every reading is there once, and the rollups count
    /// each once, including those of a commit whose answer the kill swallowed.
    @Test(.timeLimit(.minutes(3))) func aFailoverUnderLoadLosesNothingAndCountsNothingTwice() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }

        let commits = try Self.stream(series: 8, size: 150, seed: 5)
        let progress = Progress()
        let url = pg.url
        let writer = Thread {
            do {
                let store = try PostgresStore(url: url, timeZone: Self.tz)
                for readings in commits {
                    let deadline = Date().addingTimeInterval(60)
                    while true {
                        do {
                            try store.commit(readings)
                            break
                        } catch let e as PostgresConnection.Failure where e.lostConnection && Date() < deadline {
                            progress.failures.withLock { $0.append(e.description) }
                            Thread.sleep(forTimeInterval: 0.1)
                        }
                    }
                    progress.acknowledged.add(1, ordering: .sequentiallyConsistent)
                    Thread.sleep(forTimeInterval: 0.01)   // a stream, not a burst: the kill comes mid-way
                }
            } catch {
                progress.failures.withLock { $0.append("gave up: \(error)") }
                progress.acknowledged.store(-1, ordering: .sequentiallyConsistent)
            }
        }
        writer.start()
        try await waitUntil("a third of the commits acknowledged", seconds: 60) {
            progress.acknowledged.load(ordering: .sequentiallyConsistent) >= commits.count / 3
        }
        try pg.killPrimary()
        try pg.promoteReplica()
        try await waitUntil("every commit acknowledged", seconds: 120) {
            let n = progress.acknowledged.load(ordering: .sequentiallyConsistent)
            return n == commits.count || n < 0
        }
        #expect(progress.acknowledged.load(ordering: .sequentiallyConsistent) == commits.count, "\(progress.failures.withLock { $0 })")
        #expect(!progress.failures.withLock { $0 }.isEmpty)   // the kill was felt
        var expected = Expected()
        for readings in commits { expected.add(readings) }
        let store = try PostgresStore(url: pg.url, timeZone: Self.tz)
        let found = try expected.differences(store)
        #expect(found.isEmpty, "\(found.count) differences, first: \(found.prefix(3))")
        #expect(try await RollupVerifier(source: store, timeZone: Self.tz).verify(from: 0).isExact)
    }

    /// Two collectors (an import beside live ingest, say) creating the same new series at once
    /// and writing them: both finish, and every reading of both is stored once. (Two
    /// processes would hand their new names over in different orders; the store creates them
    /// in name order so they cannot wait on each other. Within one process both orders are
    /// the same, so this test cannot show that part.)
    @Test(.timeLimit(.minutes(2))) func twoWritersCreatingTheSameSeriesAtOnce() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        _ = try PostgresStore(url: pg.url, timeZone: Self.tz)   // the tables
        let rounds = 30
        @Sendable func batch(_ round: Int, _ writer: Int) throws -> [Reading] {
            let names = try (0..<40).map { try SeriesName(sensor: "new-\(round)", metric: "m\($0)") }
            return names.map {
                Reading(series: $0, time: Self.t0 + EpochMillis(writer) * 1_000, value: Double(writer))
            }
        }
        let progress = [Progress(), Progress()]
        let url = pg.url
        for writer in 0..<2 {
            Thread {
                do {
                    let store = try PostgresStore(url: url, timeZone: Self.tz)
                    for round in 0..<rounds {
                        try store.commit(try batch(round, writer))
                        progress[writer].acknowledged.add(1, ordering: .sequentiallyConsistent)
                    }
                } catch {
                    progress[writer].failures.withLock { $0.append("\(error)") }
                    progress[writer].acknowledged.store(-1, ordering: .sequentiallyConsistent)
                }
            }.start()
        }
        try await waitUntil("both writers done", seconds: 60) {
            progress.allSatisfy { let n = $0.acknowledged.load(ordering: .sequentiallyConsistent); return n == rounds || n < 0 }
        }
        #expect(progress.allSatisfy { $0.acknowledged.load(ordering: .sequentiallyConsistent) == rounds },
                "\(progress.map { $0.failures.withLock { $0 } })")
        var expected = Expected()
        for round in 0..<rounds { for writer in 0..<2 { expected.add(try batch(round, writer)) } }
        let found = try expected.differences(try PostgresStore(url: pg.url, timeZone: Self.tz))
        #expect(found.isEmpty, "\(found.prefix(3))")
    }

    @Test func passwordsStayOutOfMessages() {
        #expect(PostgresStore.redacted("postgresql://collector:s3cret@db1,db2/t?x=1") == "postgresql://collector:***@db1,db2/t?x=1")
        #expect(PostgresStore.redacted("postgresql://db/t?user=c&password=s3cret&sslmode=require")
                == "postgresql://db/t?user=c&password=***&sslmode=require")
        #expect(PostgresStore.redacted("host=db user=c password=s3cret dbname=t") == "host=db user=c password=*** dbname=t")
        #expect(PostgresStore.redacted("postgresql://collector@db/t") == "postgresql://collector@db/t")
    }

    final class Progress: Sendable {
        let acknowledged = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
    }
}

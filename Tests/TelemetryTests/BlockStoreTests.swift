import Foundation
import GRDB
import Testing
@testable import Telemetry

/// `BlockStore` on a real SQLite file: whatever the order, repetition and lateness of what is
/// inserted, the stored samples are those of a plain oracle (a dictionary where the first
/// value of a time wins); blocks stay within their size and do not overlap.
@Suite struct BlockStoreTests {
    static func open(_ dir: TempDir) throws -> DatabaseQueue {
        let q = try DatabaseQueue(path: dir.file("blocks.sqlite"))
        try q.write { try BlockStore.createTable($0) }
        return q
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func randomInsertsMatchTheOracle(seed: UInt64) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try Self.open(dir)
        var rng = SplitMix64(seed: seed)
        var oracle: [SeriesID: [EpochMillis: Double]] = [:]
        for _ in 0..<60 {
            let series = SeriesID(Int32(rng.next() % 3))
            // A batch: in order, a backlog, or a shuffled resend with other values.
            let base = EpochMillis(rng.next() % 200_000) * 10_000
            var batch = (0..<Int(1 + rng.next() % 3000)).map { k in
                Sample(time: base + EpochMillis(k) * 10_000 + (rng.next() % 50 == 0 ? 1000 : 0), value: Double(rng.next() % 10_000) / 100)
            }
            if rng.next() % 2 == 0 { batch.shuffle(using: &rng) }
            var expectedNew = 0
            for s in batch where oracle[series, default: [:]][s.time] == nil {
                oracle[series, default: [:]][s.time] = s.value
                expectedNew += 1
            }
            let added = try q.write { try BlockStore.insert(batch, series: series, $0) }
            #expect(added == expectedNew)
        }
        try q.read { db in
            for (series, values) in oracle {
                let stored = try BlockStore.samples(series: series, from: .min, to: .max, db)
                #expect(stored == values.sorted { $0.key < $1.key }.map { Sample(time: $0.key, value: $0.value) }, "series \(series)")
                for t in values.keys.prefix(20) {
                    #expect(try BlockStore.contains(series: series, time: t, db))
                    #expect(try BlockStore.contains(series: series, time: t + 1, db) == (values[t + 1] != nil))
                }
            }
            // Blocks: within size, in order, not overlapping.
            let rows = try Row.fetchAll(db, sql: "SELECT series_id, first_t, last_t, count FROM sample_blocks ORDER BY series_id, first_t")
            var previous: (Int32, Int64)?
            for r in rows {
                let (s, first, last, count): (Int32, Int64, Int64, Int) = (r[0], r[1], r[2], r[3])
                #expect(count >= 1 && count <= BlockStore.maxSamplesPerBlock && first <= last)
                if let (ps, plast) = previous, ps == s { #expect(first > plast) }
                previous = (s, last)
            }
        }
    }

    @Test func rangesAreHalfOpen() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try Self.open(dir)
        let s = SeriesID(7)
        try q.write { _ = try BlockStore.insert((0..<20_000).map { Sample(time: EpochMillis($0) * 1000, value: Double($0)) }, series: s, $0) }
        try q.read { db in
            let edge = EpochMillis(BlockStore.maxSamplesPerBlock) * 1000
            let r = try BlockStore.samples(series: s, from: edge - 1000, to: edge + 2000, db)
            #expect(r.map(\.time) == [edge - 1000, edge, edge + 1000])   // across a block boundary
            #expect(try BlockStore.count(series: s, from: edge - 1000, to: edge + 2000, db) == 3)
            #expect(try BlockStore.samples(series: SeriesID(8), from: .min, to: .max, db).isEmpty)
        }
        // The extremes of time.
        try q.write { _ = try BlockStore.insert([Sample(time: .min, value: 1), Sample(time: .max, value: 2)], series: SeriesID(9), $0) }
        try q.read { db in
            let found = try [Int64.max, .min, 0].map { try BlockStore.contains(series: SeriesID(9), time: $0, db) }
            #expect(found == [true, true, false])
        }
    }

    /// Every read (a range with a limit, a count, the newest before a time, the newest time)
    /// and pruning agree with a sorted-array oracle, on random series written in random
    /// chunks, late and repeated.
    @Test(arguments: [11, 12, 13])
    func readsAndPruningMatchTheOracle(seed: UInt64) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try Self.open(dir)
        var rng = SplitMix64(seed: seed)
        let s = SeriesID(3)
        var oracle: [EpochMillis: Double] = [:]
        for _ in 0..<40 {
            let base = EpochMillis(rng.next() % 5_000) * 10_000
            let batch = (0..<Int(1 + rng.next() % 700)).map { k in
                Sample(time: base + EpochMillis(k) * 10_000 + EpochMillis(rng.next() % 3), value: Double(rng.next() % 1_000) / 10)
            }
            for x in batch where oracle[x.time] == nil { oracle[x.time] = x.value }
            try q.write { _ = try BlockStore.insert(batch, series: s, $0) }
        }
        var sorted = oracle.sorted { $0.key < $1.key }.map { Sample(time: $0.key, value: $0.value) }
        try q.read { (db: Database) throws in
            #expect(try BlockStore.newestTime(series: s, db) == sorted.last?.time)
            #expect(try BlockStore.totalCount(db) == sorted.count)
            for _ in 0..<30 {
                let a = EpochMillis(rng.next() % 60_000_000) - 1_000_000, b = a + EpochMillis(rng.next() % 20_000_000)
                let limit = Int(1 + rng.next() % 3_000)
                let inRange = sorted.filter { $0.time >= a && $0.time < b }
                #expect(try BlockStore.samples(series: s, from: a, to: b, limit: limit, db) == Array(inRange.prefix(limit)))
                #expect(try BlockStore.count(series: s, from: a, to: b, db) == inRange.count)
                let n = Int(rng.next() % 1_500)
                #expect(try BlockStore.newest(n, series: s, before: b, db) == Array(sorted.filter { $0.time < b }.suffix(n)))
            }
        }
        let cut = sorted[sorted.count / 3].time + 1
        let gone = try q.write { try BlockStore.delete(series: s, before: cut, $0) }
        #expect(gone == sorted.filter { $0.time < cut }.count)
        sorted.removeAll { $0.time < cut }
        try q.read { (db: Database) throws in
            #expect(try BlockStore.samples(series: s, from: .min, to: .max, db) == sorted)
            #expect(try BlockStore.count(series: s, from: .min, to: .max, db) == sorted.count)
        }
    }

    /// A day of a 10 s sensor, written as it arrives (a reading at a time) and then all at
    /// once: the same bytes, about a byte a reading.
    @Test func aSensorDayIsAboutAByteAReading() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try Self.open(dir)
        var rng = SplitMix64(seed: 5)
        var v = 20.0
        let day = (0..<8_640).map { k -> Sample in
            v = ((v + Double(Int(rng.next() % 5) - 2) / 100) * 100).rounded() / 100
            return Sample(time: 1_795_000_000_000 + EpochMillis(k) * 10_000 + (rng.next() % 50 == 0 ? 1000 : 0), value: v)
        }
        try q.write { db in for chunk in stride(from: 0, to: day.count, by: 100) { _ = try BlockStore.insert(Array(day[chunk..<min(chunk + 100, day.count)]), series: SeriesID(1), db) } }
        try q.write { _ = try BlockStore.insert(day, series: SeriesID(2), $0) }
        try q.read { db in
            let sizes = try Row.fetchAll(db, sql: "SELECT series_id, sum(length(data)) FROM sample_blocks GROUP BY series_id").map { ($0[0] as Int32, $0[1] as Int) }
            #expect(sizes.count == 2 && sizes[0].1 == sizes[1].1, "\(sizes)")
            #expect(Double(sizes[0].1) / Double(day.count) < 1.2, "\(sizes)")
        }
    }

    /// Decoding ahead on another core yields what the plain scan does, in order, and a body
    /// that throws stops it (the decoder gives up instead of waiting for room).
    @Test func decodingAheadReadsWhatThePlainScanReads() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try DatabaseQueue(path: dir.file("a.sqlite"))
        try q.write { try BlockStore.createTable($0) }
        var rng = SplitMix64(seed: 61)
        let samples = (0..<60_000).map { Sample(time: 1_795_000_000_000 + EpochMillis($0) * 10_000, value: Double(rng.next() % 100_000) / 7) }
        try q.write { _ = try BlockStore.insert(samples, series: SeriesID(1), $0) }
        #expect(try q.read { try BlockStore.blockCount($0) } > 100)
        let (from, to) = (samples[123].time + 1, samples[58_000].time)
        try q.read { db in
            var plain: [Sample] = []
            try BlockStore.forEach(series: SeriesID(1), from: from, to: to, db) { plain.append($0); return true }
            var ahead: [Sample] = []
            try BlockStore.forEachBlockDecodingAhead(series: SeriesID(1), from: from, to: to, ahead: 4, db) { ahead += $0 }
            #expect(ahead == plain && plain.count == 58_000 - 124)
            struct Enough: Error {}
            var seen = 0
            #expect(throws: Enough.self) {
                try BlockStore.forEachBlockDecodingAhead(series: SeriesID(1), from: from, to: to, ahead: 2, db) { run in
                    seen += run.count
                    if seen >= 5_000 { throw Enough() }
                }
            }
        }
    }
}

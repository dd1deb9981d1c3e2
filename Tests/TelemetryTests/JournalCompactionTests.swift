import Foundation
import GRDB
import Testing
@testable import Telemetry

/// A store that tracks derived series with `feedsDerived` (as `collector import` opens it)
/// keeps in its journal, once its readings are merged and in their blocks, only the readings
/// of series that derive something: those a collector's next start derives from. Each row is
/// rewritten in place (before: a run of rows became one, unbounded, re-read by every run).
@Suite struct JournalCompactionTests {
    @Test func onlyReadingsThatFeedDerivedSeriesStayInTheJournal() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let rain = try SeriesName(parsing: "g-1/rain_mm"), temp = try SeriesName(parsing: "g-1/temp_c")
        do {
            let pool = try TelemetryDatabase.open(path: path)
            let store = try TelemetryStore(pool: pool, timeZone: .utc, tracksDerived: true,
                                           feedsDerived: { $0.metric == "rain_mm" })
            for part in 0..<5 {
                var batch = IngestBatch()
                let readings = (0..<1_000).flatMap { k -> [Reading] in
                    let t = 1_795_000_000_000 + EpochMillis(part * 1_000 + k) * 10_000
                    return [Reading(series: rain, time: t, value: Double(k % 7)), Reading(series: temp, time: t, value: 20)]
                }
                #expect(store.bind(readings, into: &batch))
                try store.commit(batch, now: 0, rollups: .handOff)
            }
            try store.close()
            // Every reading stored, in the blocks and the rollups.
            let counts = try pool.read { db in
                try [rain, temp].map { try BlockStore.count(series: store.registry.id(of: $0)!, from: .min, to: .max, db) }
            }
            #expect(counts == [5_000, 5_000])
            try pool.close()
        }
        // Reopened as the daemon does: the journal after `derivedUpTo` holds the rain readings
        // alone, every one of them, in order.
        let pool = try TelemetryDatabase.open(path: path)
        let store = try TelemetryStore(pool: pool, timeZone: .utc, tracksDerived: true)
        // Each row rewritten in place: one per commit, no larger than it was.
        let rows = try store.journal(after: store.derivedUpTo)
        #expect(rows.count == 5 && rows.allSatisfy { $0.readings.count == 1_000 }, "\(rows.map(\.readings.count))")
        let left = rows.flatMap(\.readings)
        let rainID = store.registry.id(of: rain)!
        #expect(left.count == 5_000 && left.allSatisfy { $0.series == rainID })
        #expect(left.map(\.time) == (0..<5_000).map { 1_795_000_000_000 + EpochMillis($0) * 10_000 })
        #expect(try store.journalReadingCount(after: store.derivedUpTo) == 5_000)
        try store.close()
    }
}

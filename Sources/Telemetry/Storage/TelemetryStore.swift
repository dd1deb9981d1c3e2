import Foundation
import GRDB
// The SQLite C API under GRDB: the commit's per-reading statements bind and step directly.
import GRDBSQLite

/// The write side of Telemetry: binds readings to series, and commits a batch (raw readings
/// deduplicated, rollup deltas merged, quarantined messages) as one SQLite transaction.
///
/// Not thread-safe: one ingest thread owns it. Readers use `TelemetryReader` on the same pool.
public final class TelemetryStore {
    public let pool: DatabasePool
    public private(set) var registry: SeriesRegistry
    private var downsampler: Downsampler
    private let quarantineLimit: Int
    private var accepted: [BoundReading] = []
    /// The readings the last successful commit really added (duplicates excluded), for the
    /// stages after storage (alerts, derived series).
    public private(set) var committed: [BoundReading] = []
    /// The newest accepted reading of each series since the last merge (`.min` time: none).
    private var newest: ContiguousArray<Sample> = []
    private var newestDirty: [SeriesID] = []
    private static let noSample = Sample(time: .min, value: 0)
    /// A batch's reading indices in key order, and which of them were new (reused buffers).
    private var insertOrder: [Int] = []
    private var isNew: [Bool] = []
    /// The deltas of a merge, sorted into key order (kept to reuse its storage).
    private var deltas: [(key: BucketKey, bucket: Bucket)] = []
    /// Topic-pattern labels of series created since the last commit.
    private var newLabels: [SeriesID: TopicLabels] = [:]

    /// What one commit did.
    public struct CommitStats: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        public var quarantined = 0
    }

    /// Loads the series registry from `pool`.
    public init(pool: DatabasePool, timeZone: TimeZoneID, maxSeries: Int = 200_000, quarantineLimit: Int = 10_000) throws {
        self.pool = pool
        self.quarantineLimit = quarantineLimit
        self.downsampler = Downsampler(days: LocalDays(timeZone: timeZone.zone))
        var registry = SeriesRegistry(limit: maxSeries)
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, sensor, metric FROM series ORDER BY id")
            while let row = try rows.next() {
                let name = try SeriesName(sensor: row[1], metric: row[2])
                registry.load(name, id: SeriesID(row[0]))
            }
        }
        self.registry = registry
        downsampler.reserve(seriesCount: registry.count)
        newest = ContiguousArray(repeating: Self.noSample, count: registry.count)
        // Readings a previous run committed with deferred rollups: merge them now.
        try mergeRollups()
    }

    /// Binds a message's readings to series ids and appends them to `batch`, all or none:
    /// returns false (appending nothing) when the new series would exceed `limits.max_series`.
    public func bind(_ readings: [Reading], labels: TopicLabels = TopicLabels(), into batch: inout IngestBatch) -> Bool {
        if registry.count + readings.count > registry.limit,
           registry.count + registry.unknownCount(readings.lazy.map(\.series)) > registry.limit {
            return false
        }
        let before = registry.count
        for r in readings {
            guard let id = registry.intern(r.series) else { preconditionFailure("checked above") }
            if id.index >= before && (labels.district != nil || labels.kind != nil) { newLabels[id] = labels }
            batch.readings.append(BoundReading(series: id, time: r.time, value: r.value))
        }
        if registry.count > newest.count {
            downsampler.reserve(seriesCount: registry.count)
            newest.append(contentsOf: repeatElement(Self.noSample, count: registry.count - newest.count))
        }
        return true
    }

    /// Commits `batch` in one transaction. On error nothing of it is stored, the in-memory
    /// state is as before, and the caller must not acknowledge the batch's messages.
    ///
    /// With `deferRollups` the batch's rollup deltas and last values are kept in memory and
    /// its new readings are written to `rollup_journal` instead (an append, far cheaper than
    /// the rollup upserts); a later commit without it merges everything pending and empties
    /// the journal in its transaction. A restart replays the journal, so rollups stay exact.
    /// Rollup queries see deferred readings once they are merged.
    @discardableResult
    public func commit(_ batch: IngestBatch, now: EpochMillis, deferRollups: Bool = false) throws -> CommitStats {
        var stats = CommitStats()
        let merge = !deferRollups || pendingReadings + batch.readings.count > Self.maxDeferredReadings
        do {
            try pool.write { db in
                if journalNeedsReplay { try replayJournal(db) }
                try saveNewSeries(db, now: now)
                let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO raw (series_id, t, value) VALUES (?, ?, ?)")
                // Inserted in key order (series, time), as the merge does; the later stages
                // still get the new readings in arrival order. Ties keep arrival order, so of
                // two readings with the same (series, time) in a batch the first one wins.
                let readings = batch.readings
                insertOrder.removeAll(keepingCapacity: true)
                insertOrder.append(contentsOf: readings.indices)
                insertOrder.sort { a, b in
                    (readings[a].series.rawValue, readings[a].time, a) < (readings[b].series.rawValue, readings[b].time, b)
                }
                isNew.removeAll(keepingCapacity: true)
                isNew.append(contentsOf: repeatElement(false, count: readings.count))
                for i in insertOrder {
                    let r = readings[i]
                    try FastStep.run(insert, db) { h in
                        sqlite3_bind_int64(h, 1, Int64(r.series.rawValue))
                        sqlite3_bind_int64(h, 2, r.time)
                        sqlite3_bind_double(h, 3, r.value)
                    }
                    isNew[i] = sqlite3_changes(db.sqliteConnection) > 0
                }
                for (i, r) in readings.enumerated() {
                    if isNew[i] {
                        downsampler.add(series: r.series, time: r.time, value: r.value)
                        noteNewest(r)
                        accepted.append(r)
                    } else {
                        stats.duplicates += 1
                    }
                }
                stats.inserted = accepted.count
                if merge { try mergePending(db) } else { try journal(db) }
                try saveQuarantine(db, batch.quarantine)
                stats.quarantined = batch.quarantine.count
            }
        } catch {
            // The deltas of this batch are mixed with those still pending from deferred
            // commits: forget them all and rebuild the pending ones from the journal.
            downsampler.discardDeltas()
            clearNewest()
            journalNeedsReplay = true
            pendingReadings = 0
            accepted.removeAll(keepingCapacity: true)
            throw error
        }
        if merge {
            pendingReadings = 0
        } else {
            pendingReadings += accepted.count
        }
        registry.markSaved()
        newLabels.removeAll(keepingCapacity: true)
        swap(&accepted, &committed)
        accepted.removeAll(keepingCapacity: true)
        return stats
    }

    /// Readings committed with `deferRollups` whose rollups are not merged yet.
    public private(set) var pendingReadings = 0
    /// Whether some committed readings are not yet in the rollups (`mergeRollups()` merges them).
    public var hasPendingRollups: Bool { journalNeedsReplay || pendingReadings > 0 }
    /// A deferring commit merges anyway past this many pending readings (memory bound).
    public static let maxDeferredReadings = 1_000_000
    /// Whether the in-memory pending deltas must be rebuilt from `rollup_journal` (at start,
    /// and after a failed commit).
    private var journalNeedsReplay = true

    /// Merges every pending rollup delta and last value (see `commit(_:now:deferRollups:)`).
    public func mergeRollups() throws {
        guard hasPendingRollups else { return }
        try commit(IngestBatch(), now: 0)
    }

    /// Deletes raw readings older than `before` (rollups are kept). Works series by series on
    /// the primary key, in transactions of `seriesPerCommit`, so the write lock is never held
    /// long; returns how many readings went.
    @discardableResult
    public func pruneRaw(before: EpochMillis, seriesPerCommit: Int = 2_000) throws -> Int {
        var deleted = 0
        var start = 0
        while start < registry.count {
            let end = min(start + seriesPerCommit, registry.count)
            deleted += try pool.write { db in
                let stmt = try db.cachedStatement(sql: "DELETE FROM raw WHERE series_id = ? AND t < ?")
                var n = 0
                for id in start..<end {
                    try stmt.execute(arguments: [id, before])
                    n += db.changesCount
                }
                return n
            }
            start = end
        }
        return deleted
    }

    private func saveNewSeries(_ db: Database, now: EpochMillis) throws {
        guard !registry.unsaved.isEmpty else { return }
        let stmt = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO series (id, name, sensor, metric, first_seen, district, kind) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for id in registry.unsaved {
            let n = registry.name(of: id)
            let l = newLabels[id]
            try stmt.execute(arguments: [id.rawValue, n.description, n.sensor, n.metric, now, l?.district, l?.kind])
        }
    }

    /// Merges every pending delta into the rollup tables and the series' last values, and
    /// empties the journal: all in the caller's transaction.
    private func mergePending(_ db: Database) throws {
        var statements: [Statement] = []
        for tier in Tier.allCases {
            statements.append(try db.cachedStatement(sql: """
                INSERT INTO \(tier.table) (series_id, t, cnt, total, lo, hi, first_t, first_v, last_t, last_v)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """ + Self.mergeRule))
        }
        // In key order (tier, series, bucket): consecutive upserts land on the same or the next
        // B-tree page instead of one at random, which costs about a third less (BENCHMARKS.md).
        deltas.removeAll(keepingCapacity: true)
        downsampler.drain { key, b in deltas.append((key, b)) }
        deltas.sort { a, b in
            (a.key.tier.rawValue, a.key.series.rawValue, a.key.start) < (b.key.tier.rawValue, b.key.series.rawValue, b.key.start)
        }
        for (key, b) in deltas {
            try FastStep.run(statements[key.tier.rawValue], db) { h in
                sqlite3_bind_int64(h, 1, Int64(key.series.rawValue))
                sqlite3_bind_int64(h, 2, key.start)
                sqlite3_bind_int64(h, 3, b.count)
                sqlite3_bind_double(h, 4, b.sum)
                sqlite3_bind_double(h, 5, b.min)
                sqlite3_bind_double(h, 6, b.max)
                sqlite3_bind_int64(h, 7, b.firstTime)
                sqlite3_bind_double(h, 8, b.first)
                sqlite3_bind_int64(h, 9, b.lastTime)
                sqlite3_bind_double(h, 10, b.last)
            }
        }
        if !newestDirty.isEmpty {
            let stmt = try db.cachedStatement(sql: """
                UPDATE series SET last_t = ?, last_value = ? WHERE id = ? AND (last_t IS NULL OR last_t < ?)
                """)
            newestDirty.sort { $0.rawValue < $1.rawValue }
            for id in newestDirty {
                let s = newest[id.index]
                try FastStep.run(stmt, db) { h in
                    sqlite3_bind_int64(h, 1, s.time)
                    sqlite3_bind_double(h, 2, s.value)
                    sqlite3_bind_int64(h, 3, Int64(id.rawValue))
                    sqlite3_bind_int64(h, 4, s.time)
                }
            }
            clearNewest()
        }
        // Every pending reading is in the journal (this commit's own are not journaled).
        if pendingReadings > 0 { try db.execute(sql: "DELETE FROM rollup_journal") }
    }

    /// How a delta merges into a stored rollup row: the result is the aggregate of both.
    private static let mergeRule = """
         ON CONFLICT (series_id, t) DO UPDATE SET
          cnt = cnt + excluded.cnt,
          total = total + excluded.total,
          lo = min(lo, excluded.lo),
          hi = max(hi, excluded.hi),
          first_v = CASE WHEN excluded.first_t < first_t THEN excluded.first_v ELSE first_v END,
          first_t = min(first_t, excluded.first_t),
          last_v = CASE WHEN excluded.last_t > last_t THEN excluded.last_v ELSE last_v END,
          last_t = max(last_t, excluded.last_t)
        """

    /// Appends this commit's new readings to the journal.
    private func journal(_ db: Database) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO rollup_journal (series_id, t, value) VALUES (?, ?, ?)")
        for r in accepted {
            try FastStep.run(insert, db) { h in
                sqlite3_bind_int64(h, 1, Int64(r.series.rawValue))
                sqlite3_bind_int64(h, 2, r.time)
                sqlite3_bind_double(h, 3, r.value)
            }
        }
    }

    /// Rebuilds the pending deltas and last values from `rollup_journal`, in the caller's
    /// transaction: the readings there are in `raw` but not yet in the rollups.
    private func replayJournal(_ db: Database) throws {
        downsampler.discardDeltas()
        clearNewest()
        let rows = try db.cachedStatement(sql: "SELECT series_id, t, value FROM rollup_journal")
        let h = rows.sqliteStatement
        sqlite3_reset(h)
        var n = 0
        while true {
            let rc = sqlite3_step(h)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc),
                                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: rows.sql)
            }
            let raw = sqlite3_column_int64(h, 0)
            // The journal and the series rows are written in the same transactions.
            guard raw >= 0 && raw < registry.count else { continue }
            let id = SeriesID(Int32(raw))
            let r = BoundReading(series: id, time: sqlite3_column_int64(h, 1), value: sqlite3_column_double(h, 2))
            downsampler.add(series: r.series, time: r.time, value: r.value)
            noteNewest(r)
            n += 1
        }
        sqlite3_reset(h)
        pendingReadings = n
        journalNeedsReplay = false
    }

    private func noteNewest(_ r: BoundReading) {
        if newest[r.series.index].time == .min { newestDirty.append(r.series) }
        if newest[r.series.index].time < r.time { newest[r.series.index] = Sample(time: r.time, value: r.value) }
    }

    private func clearNewest() {
        for id in newestDirty { newest[id.index] = Self.noSample }
        newestDirty.removeAll(keepingCapacity: true)
    }

    private func saveQuarantine(_ db: Database, _ records: [QuarantineRecord]) throws {
        guard !records.isEmpty else { return }
        let stmt = try db.cachedStatement(sql: "INSERT INTO quarantine (received, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)")
        for q in records {
            try stmt.execute(arguments: [q.received, q.topic, q.reason, q.detail, Data(q.payload)])
        }
        try db.execute(sql: "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?", arguments: [quarantineLimit])
    }
}

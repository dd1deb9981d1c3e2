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
    private var rings: ContiguousArray<SeriesRing> = []
    /// Whether a ring has been filled from storage (done lazily, on first `recent`).
    private var ringLoaded: ContiguousArray<Bool> = []
    private let ringCapacity: Int
    private let quarantineLimit: Int
    private var accepted: [BoundReading] = []
    /// The readings the last successful commit really added (duplicates excluded), for the
    /// stages after storage (alerts, derived series).
    public private(set) var committed: [BoundReading] = []
    private var newest: [SeriesID: Sample] = [:]
    /// Topic-pattern labels of series created since the last commit.
    private var newLabels: [SeriesID: TopicLabels] = [:]

    /// What one commit did.
    public struct CommitStats: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        public var quarantined = 0
    }

    /// Loads the series registry from `pool`.
    public init(pool: DatabasePool, timeZone: TimeZoneID, ringCapacity: Int = 128,
                maxSeries: Int = 200_000, quarantineLimit: Int = 10_000) throws {
        self.pool = pool
        self.ringCapacity = ringCapacity
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
        rings.reserveCapacity(registry.count)
        for _ in 0..<registry.count { rings.append(SeriesRing(capacity: ringCapacity)) }
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
        if registry.count > rings.count {
            downsampler.reserve(seriesCount: registry.count)
            while rings.count < registry.count { rings.append(SeriesRing(capacity: ringCapacity)) }
        }
        return true
    }

    /// The latest samples of a series (oldest first). The first call for a series fills its
    /// ring from storage, so that rates look back across a restart.
    public func recent(_ id: SeriesID) -> [Sample] {
        while ringLoaded.count <= id.index { ringLoaded.append(false) }
        if !ringLoaded[id.index] {
            ringLoaded[id.index] = true
            let cap = rings[id.index].capacity
            if let stored = try? pool.read({ db in
                try Row.fetchAll(db, sql: "SELECT t, value FROM raw WHERE series_id = ? ORDER BY t DESC LIMIT ?",
                                 arguments: [id.rawValue, cap]).map { Sample(time: $0[0], value: $0[1]) }
            }) {
                for s in stored.reversed() { rings[id.index].record(s) }
            }
        }
        return rings[id.index].samples
    }

    /// Commits `batch` in one transaction. On error nothing of it is stored, the in-memory
    /// state is as before, and the caller must not acknowledge the batch's messages.
    @discardableResult
    public func commit(_ batch: IngestBatch, now: EpochMillis) throws -> CommitStats {
        var stats = CommitStats()
        do {
            try pool.write { db in
                try saveNewSeries(db, now: now)
                let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO raw (series_id, t, value) VALUES (?, ?, ?)")
                for r in batch.readings {
                    try FastStep.run(insert, db) { h in
                        sqlite3_bind_int64(h, 1, Int64(r.series.rawValue))
                        sqlite3_bind_int64(h, 2, r.time)
                        sqlite3_bind_double(h, 3, r.value)
                    }
                    if sqlite3_changes(db.sqliteConnection) > 0 {
                        downsampler.add(series: r.series, time: r.time, value: r.value)
                        accepted.append(r)
                    } else {
                        stats.duplicates += 1
                    }
                }
                stats.inserted = accepted.count
                try mergeRollups(db)
                try updateLastValues(db)
                try saveQuarantine(db, batch.quarantine)
                stats.quarantined = batch.quarantine.count
            }
        } catch {
            downsampler.discardDeltas()
            accepted.removeAll(keepingCapacity: true)
            newest.removeAll(keepingCapacity: true)
            throw error
        }
        registry.markSaved()
        newLabels.removeAll(keepingCapacity: true)
        for r in accepted { rings[r.series.index].record(Sample(time: r.time, value: r.value)) }
        swap(&accepted, &committed)
        accepted.removeAll(keepingCapacity: true)
        newest.removeAll(keepingCapacity: true)
        return stats
    }

    /// Stored raw samples of a series with `from <= t < to`, oldest first (for stages that
    /// rebuild their state after a restart). Empty for an unknown series.
    public func samples(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        guard let id = registry.id(of: name) else { return [] }
        return try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT t, value FROM raw WHERE series_id = ? AND t >= ? AND t < ? ORDER BY t",
                             arguments: [id.rawValue, from, to]).map { Sample(time: $0[0], value: $0[1]) }
        }
    }

    /// The newest stored sample of a series before `before`.
    public func lastSample(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        guard let id = registry.id(of: name) else { return nil }
        return try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT t, value FROM raw WHERE series_id = ? AND t < ? ORDER BY t DESC LIMIT 1",
                             arguments: [id.rawValue, before]).map { Sample(time: $0[0], value: $0[1]) }
        }
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

    private func mergeRollups(_ db: Database) throws {
        var statements: [Statement] = []
        for tier in Tier.allCases {
            statements.append(try db.cachedStatement(sql: """
                INSERT INTO \(tier.table) (series_id, t, cnt, total, lo, hi, first_t, first_v, last_t, last_v)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (series_id, t) DO UPDATE SET
                  cnt = cnt + excluded.cnt,
                  total = total + excluded.total,
                  lo = min(lo, excluded.lo),
                  hi = max(hi, excluded.hi),
                  first_v = CASE WHEN excluded.first_t < first_t THEN excluded.first_v ELSE first_v END,
                  first_t = min(first_t, excluded.first_t),
                  last_v = CASE WHEN excluded.last_t > last_t THEN excluded.last_v ELSE last_v END,
                  last_t = max(last_t, excluded.last_t)
                """))
        }
        try downsampler.drain { key, b in
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
    }

    private func updateLastValues(_ db: Database) throws {
        for r in accepted where (newest[r.series]?.time ?? .min) < r.time {
            newest[r.series] = Sample(time: r.time, value: r.value)
        }
        guard !newest.isEmpty else { return }
        let stmt = try db.cachedStatement(sql: """
            UPDATE series SET last_t = ?, last_value = ? WHERE id = ? AND (last_t IS NULL OR last_t < ?)
            """)
        for (id, s) in newest {
            try FastStep.run(stmt, db) { h in
                sqlite3_bind_int64(h, 1, s.time)
                sqlite3_bind_double(h, 2, s.value)
                sqlite3_bind_int64(h, 3, Int64(id.rawValue))
                sqlite3_bind_int64(h, 4, s.time)
            }
        }
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

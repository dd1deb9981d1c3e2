import Foundation
import GRDB

/// The read side of Telemetry: answers queries from SQLite. Sendable; safe from any task.
public struct TelemetryReader: Sendable {
    public let pool: DatabasePool
    private let days: LocalDays
    /// The running store's readings not yet in their blocks (nil: reading the file alone).
    private let pending: RawPending?

    public init(pool: DatabasePool, timeZone: TimeZoneID, pending: RawPending? = nil) {
        self.pool = pool
        self.days = LocalDays(timeZone: timeZone.zone)
        self.pending = pending
    }

    /// The start of the `tier` bucket containing `t`.
    public func bucketStart(_ tier: Tier, _ t: EpochMillis) -> EpochMillis {
        tier.bucket(containing: t, days: days).start
    }

    /// The stored id of a series, if it has ever had a reading.
    public func seriesID(_ name: SeriesName) async throws -> SeriesID? {
        try await pool.read { db in
            try Int32.fetchOne(db, sql: "SELECT id FROM series WHERE name = ?", arguments: [name.description])
                .map(SeriesID.init)
        }
    }

    /// Rollup buckets of `tier` for many series (rows and sealed blocks, or the raw readings
    /// where a series does not store the tier: `TierSizing`), merged into the buckets of
    /// `plan`: (series, bucket start) -> merged bucket. Reads in chunks of series ids.
    public func rollups(_ ids: [SeriesID], plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [SeriesID: [EpochMillis: Bucket]]
    {
        let lower = bucketStart(plan.tier, from)
        let days = self.days
        var out: [SeriesID: [EpochMillis: Bucket]] = [:]
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            let part = try await readWithPendingOfRaw(lower: lower) { recent, db in
                try Self.readChunk(chunk, plan: plan, lower: lower, to: to, days: days, recent: recent, db)
            }
            out.merge(part) { a, _ in a }
        }
        return out
    }

    /// `rollups` of one series found by name, the name looked up in the same read (a query's
    /// common case: one read instead of two), its buckets in time order; nil when no such
    /// series is stored.
    public func rollups(named name: SeriesName, plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [(start: EpochMillis, bucket: Bucket)]?
    {
        let lower = bucketStart(plan.tier, from)
        let days = self.days
        return try await readWithPendingOfRaw(lower: lower, here: true) { recent, db -> ([(start: EpochMillis, bucket: Bucket)]?, Set<Int32>) in
            guard let id = try Int32.fetchOne(db.cachedStatement(sql: "SELECT id FROM series WHERE name = ?"), arguments: [name.description])
            else { return (nil, []) }
            return try Self.readOne(SeriesID(id), plan: plan, lower: lower, to: to, days: days, recent: recent[id] ?? [], db)
        }
    }

    /// `readChunk` of one series, as a list in time order rather than a map: its rows and its
    /// sealed buckets (or raw readings) each come in time order, so the two are merged, mapped
    /// to the plan's buckets, and neighbours that share one merged (no hashing, no sort).
    private static func readOne(_ id: SeriesID, plan: StepPlan, lower: EpochMillis, to: EpochMillis, days: LocalDays,
                                recent: [Sample], _ db: Database) throws -> ([(start: EpochMillis, bucket: Bucket)], Set<Int32>) {
        let rows = try db.cachedStatement(sql: """
            SELECT t, cnt, total, lo, hi, first_t, first_v, last_t, last_v FROM \(plan.tier.table)
            WHERE series_id = ? AND t >= ? AND t < ? ORDER BY t
            """)
        var head: [(start: EpochMillis, bucket: Bucket)] = []
        let cursor = try Row.fetchCursor(rows, arguments: [id.rawValue, lower, to])
        while let r = try cursor.next() { head.append((r[0], bucket(r, from: 1))) }
        let fromRaw = try TierSizing.fromRaw(plan.tier, among: [id.rawValue], db)
        let sealed = try sealedOrRaw(id, fromRaw: !fromRaw.isEmpty, plan: plan, lower: lower, to: to, days: days, recent: recent, db)
        // (A bucket is a row or sealed, never both; rows come after the sealed ones, but the
        // merge does not rely on it.)
        let zone = days.timeZone
        var out: [(start: EpochMillis, bucket: Bucket)] = []
        out.reserveCapacity(head.count + sealed.count)
        var i = 0, j = 0
        while i < head.count || j < sealed.count {
            let next: (start: EpochMillis, bucket: Bucket)
            if j == sealed.count || (i < head.count && head[i].start < sealed[j].start) {
                next = head[i]
                i += 1
            } else {
                next = sealed[j]
                j += 1
            }
            let start = plan.bucket(next.start, timeZone: zone)
            if let last = out.last?.start, last == start {
                out[out.count - 1].bucket.merge(next.bucket)
            } else {
                out.append((start, next.bucket))
            }
        }
        // A plan's buckets follow their tier's in order; should a zone's rule ever make one go
        // back, the answer is put in order and merged again.
        if !zip(out, out.dropFirst()).allSatisfy({ $0.start < $1.start }) {
            var merged: [EpochMillis: Bucket] = [:]
            for (start, b) in out { merged[start, default: .empty].merge(b) }
            out = merged.keys.sorted().map { ($0, merged[$0]!) }
        }
        return (out, fromRaw)
    }

    /// A series' sealed buckets of the plan's tier, or those aggregated from its raw readings
    /// (and `recent` pending ones) where it does not store the tier; in time order.
    private static func sealedOrRaw(_ id: SeriesID, fromRaw: Bool, plan: StepPlan, lower: EpochMillis, to: EpochMillis,
                                    days: LocalDays, recent: [Sample], _ db: Database) throws -> [(start: EpochMillis, bucket: Bucket)] {
        fromRaw
            ? try TierSizing.rawBuckets(plan.tier, series: id, days: days, from: lower, to: to, recent: recent, db)
            : try RollupBlockStore.buckets(tier: plan.tier, series: id, from: lower, to: to, db)
    }

    /// The bucket in a rollup row's columns `cnt, total, lo, hi, first_t, first_v, last_t,
    /// last_v`, from column `k` on.
    private static func bucket(_ r: Row, from k: Int) -> Bucket {
        Bucket(count: r[k], sum: r[k + 1], min: r[k + 2], max: r[k + 3], firstTime: r[k + 4], first: r[k + 5],
               lastTime: r[k + 6], last: r[k + 7])
    }

    /// Runs `read` (which reports the series it found answered from raw) with the pending
    /// readings of those series, taken before it: pending readings first, then storage (as
    /// `raw`). It reads first as if there were none (the common case: one read), again with
    /// the pending readings of those it reported (a tier the merger drops in between makes a
    /// third). `here`: a short read (one series), run on the calling thread; a long one goes to
    /// GRDB's queue, so that it holds no thread of the task pool.
    private func readWithPendingOfRaw<T: Sendable>(lower: EpochMillis, here: Bool = false,
                                                   _ read: @escaping @Sendable ([Int32: [Sample]], Database) throws -> (T, Set<Int32>))
        async throws -> T
    {
        var known = Set<Int32>()
        for attempt in 1...3 {
            var pendingOf: [Int32: [Sample]] = [:]
            if let pending {
                for id in known { pendingOf[id] = pending.samples(of: SeriesID(id), from: lower, to: .max) }
            }
            let recent = pendingOf
            let (value, fromRaw) = here ? try readHere { try read(recent, $0) } : try await pool.read { try read(recent, $0) }
            if pending == nil || fromRaw.isSubset(of: known) || attempt == 3 { return value }
            known = fromRaw
        }
        preconditionFailure("the last attempt returns")
    }

    /// A short read on the calling thread (GRDB's blocking read): no hop to a database queue
    /// and back.
    private func readHere<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }

    /// One chunk of `rollups`, in one read: each series' rows and sealed blocks of the tier, or
    /// its raw readings (and `recent` pending ones) where the tier is answered from raw; with
    /// the set of those series as this read saw it.
    private static func readChunk(_ chunk: [SeriesID], plan: StepPlan, lower: EpochMillis, to: EpochMillis, days: LocalDays,
                                  recent: [Int32: [Sample]], _ db: Database) throws -> ([SeriesID: [EpochMillis: Bucket]], Set<Int32>) {
        let zone = days.timeZone
        var m: [SeriesID: [EpochMillis: Bucket]] = [:]
        let marks = chunk.map { _ in "?" }.joined(separator: ",")
        var args = StatementArguments(chunk.map(\.rawValue))
        args += [lower, to]
        let sql = """
            SELECT series_id, t, cnt, total, lo, hi, first_t, first_v, last_t, last_v FROM \(plan.tier.table)
            WHERE series_id IN (\(marks)) AND t >= ? AND t < ?
            """
        // One series (a chart's query) reuses its prepared statement; many vary in length.
        let rows = try Row.fetchCursor(chunk.count == 1 ? db.cachedStatement(sql: sql) : db.makeStatement(sql: sql), arguments: args)
        while let r = try rows.next() {
            m[SeriesID(r[0]), default: [:]][plan.bucket(r[1], timeZone: zone), default: .empty].merge(bucket(r, from: 2))
        }
        // The sealed buckets (a bucket is a row or in a block, never both), or the raw
        // readings (a tier answered from raw has neither).
        let fromRaw = try TierSizing.fromRaw(plan.tier, among: chunk.map(\.rawValue), db)
        for id in chunk {
            let buckets = try sealedOrRaw(id, fromRaw: fromRaw.contains(id.rawValue), plan: plan, lower: lower, to: to,
                                          days: days, recent: recent[id.rawValue] ?? [], db)
            for (start, b) in buckets {
                m[id, default: [:]][plan.bucket(start, timeZone: zone), default: .empty].merge(b)
            }
        }
        return (m, fromRaw)
    }

    /// Count, sum, minimum and maximum of many series' rollups merged per group, in the buckets
    /// of `plan` (the grouped query: its answers need no first or last). `groupOf` gives each
    /// series its group index `0..<groupCount`; the answer has one array per group, its
    /// buckets in time order. The series are split across the cores, each part scanned in its
    /// own read (so parts may see commits a few milliseconds apart); the hot loop reads
    /// SQLite's columns directly (they are NOT NULL) and merges each row straight into its
    /// group's bucket, found by array index: no per-series maps, no hashing.
    public func groupedRollups(_ groupOf: [SeriesID: Int], groupCount: Int, plan: StepPlan,
                               from: EpochMillis, to: EpochMillis) async throws -> [[(start: EpochMillis, bucket: GroupBucket)]] {
        let ids = groupOf.keys.map(\.rawValue).sorted()
        guard let maxID = ids.last, groupCount > 0 else { return Array(repeating: [], count: groupCount) }
        // Series ids are small and dense (assigned in order), so a plain array maps them.
        var groupByID = [Int32](repeating: -1, count: Int(maxID) + 1)
        for (id, g) in groupOf { groupByID[Int(id.rawValue)] = Int32(g) }
        let lower = bucketStart(plan.tier, from)
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, ids.count / 250))
        let size = (ids.count + parts - 1) / parts
        let pool = self.pool
        // Pending readings first, then storage (as `raw`), for the series answered from raw;
        // a tier the merger drops in between lacks them: scanned again (see `rollups`).
        for attempt in 1...3 {
            var recent: [Int32: [Sample]] = [:]
            if let pending {
                for id in try await pool.read({ try TierSizing.fromRaw(plan.tier, among: ids, $0) }) {
                    recent[id] = pending.samples(of: SeriesID(id), from: lower, to: .max)
                }
            }
            let scan = GroupScan(plan: plan, lower: lower, to: to, days: days, groupCount: groupCount,
                                 groupByID: groupByID, recent: recent, checksPending: pending != nil)
            var total = scan.empty()
            var missed = false
            try await withThrowingTaskGroup(of: GroupScan.Partial.self) { tasks in
                for p in 0..<parts {
                    let part = Array(ids[(p * size)..<min(ids.count, (p + 1) * size)])
                    tasks.addTask { try await pool.read { db in try scan.run(db, ids: part) } }
                }
                for try await partial in tasks {
                    scan.merge(partial, into: &total)
                    missed = missed || partial.missedPending
                }
            }
            if !missed || attempt == 3 { return scan.answer(total) }
        }
        preconditionFailure("the last attempt returns")
    }

    /// Raw readings with `from <= t < to`, oldest first, at most `limit` of them
    /// (`truncated` tells whether more exist).
    public func raw(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws
        -> (points: [Sample], truncated: Bool)
    {
        // Pending first, then storage: a reading written to the blocks in between is in one or both.
        let recent = pending?.samples(of: id, from: from, to: to) ?? []
        return try await pool.read { db in
            let stored = try BlockStore.samples(series: id, from: from, to: to, limit: limit + 1, db)
            var out = RawPending.merged(stored, recent)
            if out.count > limit + 1 { out.removeLast(out.count - limit - 1) }
            let truncated = out.count > limit
            if truncated { out.removeLast() }
            return (out, truncated)
        }
    }

    /// Raw readings with `from <= t < to` downsampled to `threshold` points (LTTB), streamed
    /// from the blocks in one read, decoded on another core ahead of the downsampling (memory:
    /// the range's compressed blocks, a few decoded ones and two buckets, however many readings
    /// the range holds), the pending readings merged in as they fall.
    public func rawDownsampled(_ id: SeriesID, from: EpochMillis, to: EpochMillis, threshold: Int) async throws -> [Sample] {
        // Pending first, then storage: a reading written to the blocks in between is in one or both.
        let recent = pending?.samples(of: id, from: from, to: to) ?? []
        return try await pool.read { db in
            // (A pending reading written to its block in between counts twice: close enough to
            // size the buckets.)
            var stream = LTTBStream(count: try BlockStore.count(series: id, from: from, to: to, db) + recent.count,
                                    threshold: threshold)
            var j = 0
            try BlockStore.forEachBlockDecodingAhead(series: id, from: from, to: to, db) { samples in
                // A block no pending reading falls in (nearly all): handed over whole.
                guard j < recent.count, let newest = samples.last, recent[j].time <= newest.time else {
                    return stream.add(contentsOf: samples)
                }
                for s in samples {
                    while j < recent.count && recent[j].time < s.time { stream.add(recent[j]); j += 1 }
                    if j < recent.count && recent[j].time == s.time { j += 1 }   // stored and pending: once
                    stream.add(s)
                }
            }
            while j < recent.count { stream.add(recent[j]); j += 1 }
            return stream.finish()
        }
    }

    /// One stored series with its newest reading.
    public struct SeriesInfo: Sendable {
        public var id: SeriesID
        public var name: SeriesName
        public var lastTime: EpochMillis?
        public var lastValue: Double?
        /// Labels from a topic pattern, when the series was first seen on one.
        public var unit: String?
        public var kind: String?
    }

    /// Every stored series, by name, with its newest reading: `series.last_*` (written with
    /// `raw`) or a newer one still pending.
    public func seriesList() async throws -> [SeriesInfo] {
        try await seriesPage(after: nil, limit: -1)
    }

    /// Up to `limit` stored series by name (all for a negative limit), after `after`
    /// (exclusive), with their newest reading, for pages of the series list.
    public func seriesPage(after: String?, limit: Int, pendingNewest: [SeriesID: Sample]? = nil) async throws -> [SeriesInfo] {
        // Pending first, then storage: a reading written in between is seen in one or both.
        let newest = pendingNewest ?? pending?.newest() ?? [:]
        return try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT sensor, metric, last_t, last_value, unit, kind, id FROM series
                WHERE name > ? ORDER BY name LIMIT ?
                """, arguments: [after ?? "", limit]).compactMap { r in
                guard let name = try? SeriesName(sensor: r[0], metric: r[1]) else { return nil }
                var info = SeriesInfo(id: SeriesID(r[6]), name: name, lastTime: r[2], lastValue: r[3], unit: r[4], kind: r[5])
                if let p = newest[info.id], p.time > info.lastTime ?? .min {
                    info.lastTime = p.time
                    info.lastValue = p.value
                }
                return info
            }
        }
    }

    /// The newest reading of `name` (stored or pending); nil for a series with none.
    public func latest(_ name: SeriesName) async throws -> Sample? {
        guard let id = try await seriesID(name) else { return nil }
        let pendingLast = pending?.samples(of: id, from: .min, to: .max).last
        let stored = try await pool.read { db in try BlockStore.newest(1, series: id, db).first }
        guard let pendingLast else { return stored }
        guard let stored else { return pendingLast }
        return pendingLast.time >= stored.time ? pendingLast : stored
    }

    /// The newest pending reading of each series (for several `seriesPage` calls in a row).
    public func pendingNewest() -> [SeriesID: Sample] { pending?.newest() ?? [:] }

    /// The newest reading time of each sensor that has reported (stored or pending).
    public func sensorsLastSeen() async throws -> [String: EpochMillis] {
        let newest = pending?.newest() ?? [:]
        return try await pool.read { db in
            var out: [String: EpochMillis] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT id, sensor, last_t FROM series") {
                var last: EpochMillis? = r[2]
                if let p = newest[SeriesID(r[0])]?.time, p > last ?? .min { last = p }
                guard let last else { continue }
                let sensor: String = r[1]
                if last > out[sensor] ?? .min { out[sensor] = last }
            }
            return out
        }
    }

    /// The newest quarantined messages (optionally of one reason), newest first.
    public func quarantine(limit: Int, reason: String?) async throws -> [QuarantineRecord] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT received, topic, reason, detail, payload FROM quarantine
                WHERE ?1 IS NULL OR reason = ?1 ORDER BY id DESC LIMIT ?2
                """, arguments: [reason, limit])
            return rows.map { r in
                QuarantineRecord(received: r[0], topic: r[1], reason: r[2], detail: r[3],
                                 payload: (r[4] as Data?).map { Array($0) } ?? [])
            }
        }
    }

    /// How many kept quarantined messages there are per reason.
    public func quarantineCounts() async throws -> [(reason: String, count: Int)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason")
                .map { ($0[0], $0[1]) }
        }
    }

    /// Whether the database answers at all (for readiness).
    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}

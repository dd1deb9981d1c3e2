import Foundation
import GRDB
// The SQLite C API under GRDB: the scan's hot loop reads columns directly.
import GRDBSQLite

/// One grouped rollup query's scan (`TelemetryReader.groupedRollups`): reads rollup rows and
/// sealed blocks of some series (or their raw readings, where a series does not store the
/// tier: `TierSizing`) and merges them into per-group buckets. Fixed-width steps keep a flat array
/// (group x bucket, found by arithmetic); day steps (local days) a map per group.
struct GroupScan: Sendable {
    let plan: StepPlan
    let lower: EpochMillis
    let to: EpochMillis
    let zone: TimeZone
    let groupCount: Int
    /// Series id -> group index, -1 for none.
    let groupByID: [Int32]
    let first: EpochMillis
    let slots: Int
    let days: LocalDays
    /// Pending readings (not yet in their blocks) of the series answered from raw, read
    /// before the scan's read began.
    let recent: [Int32: [Sample]]
    /// Whether `recent` was read (a running store): a series answered from raw that has no
    /// entry there became so after it was read, and the scan must run again.
    let checksPending: Bool

    init(plan: StepPlan, lower: EpochMillis, to: EpochMillis, days: LocalDays, groupCount: Int, groupByID: [Int32],
         recent: [Int32: [Sample]] = [:], checksPending: Bool = false) {
        self.plan = plan
        self.lower = lower
        self.to = to
        self.zone = days.timeZone
        self.days = days
        self.recent = recent
        self.checksPending = checksPending
        self.groupCount = groupCount
        self.groupByID = groupByID
        first = plan.bucket(lower, timeZone: zone)
        slots = plan.tier == .day ? 0 : Int((to - first) / plan.stepMillis) + 1
    }

    struct Partial: Sendable {
        var flat: [GroupBucket]
        var byDay: [[EpochMillis: GroupBucket]]
        /// A series answered from raw was read without its pending readings.
        var missedPending = false
    }

    func empty() -> Partial {
        Partial(flat: Array(repeating: .empty, count: groupCount * slots),
                byDay: Array(repeating: [:], count: slots == 0 ? groupCount : 0))
    }

    /// Scans the rows of `ids`, 500 ids a statement.
    func run(_ db: Database, ids: [Int32]) throws -> Partial {
        var out = empty()
        for chunkStart in stride(from: 0, to: ids.count, by: 500) {
            let chunk = ids[chunkStart..<min(chunkStart + 500, ids.count)]
            let statement = try db.makeStatement(sql: """
                SELECT series_id, t, cnt, total, lo, hi FROM \(plan.tier.table)
                WHERE series_id IN (\(chunk.map { _ in "?" }.joined(separator: ","))) AND t >= ? AND t < ?
                """)
            var args = StatementArguments(Array(chunk))
            args += [lower, to]
            statement.arguments = args
            let handle = statement.sqliteStatement
            let rows = try Row.fetchCursor(statement)
            while try rows.next() != nil {
                let g = Int(groupByID[Int(sqlite3_column_int64(handle, 0))])
                guard g >= 0 else { continue }
                let b = GroupBucket(count: sqlite3_column_int64(handle, 2), sum: sqlite3_column_double(handle, 3),
                                    min: sqlite3_column_double(handle, 4), max: sqlite3_column_double(handle, 5))
                add(b, at: sqlite3_column_int64(handle, 1), group: g, to: &out)
            }
            // The sealed buckets (a bucket is a row or in a block, never both), or the raw
            // readings (a tier answered from raw has neither).
            let fromRaw = try TierSizing.fromRaw(plan.tier, among: chunk, db)
            if checksPending && fromRaw.contains(where: { recent[$0] == nil }) { out.missedPending = true }
            for id in chunk where !fromRaw.contains(id) {
                let g = Int(groupByID[Int(id)])
                guard g >= 0 else { continue }
                for (start, b) in try RollupBlockStore.buckets(tier: plan.tier, series: SeriesID(id), from: lower, to: to, db) {
                    add(GroupBucket(count: b.count, sum: b.sum, min: b.min, max: b.max), at: start, group: g, to: &out)
                }
            }
            if !fromRaw.isEmpty {
                try scanRaw(chunk.filter { fromRaw.contains($0) && groupByID[Int($0)] >= 0 }, db, into: &out)
            }
        }
        return out
    }

    /// The series (ascending) whose tier is answered from raw readings: their stored samples
    /// in one statement (`BlockStore.forEach(seriesIn:)`), their pending ones merged in (a
    /// time in both counts once), each added to its group's bucket as a bucket of one.
    private func scanRaw(_ ids: [Int32], _ db: Database, into out: inout Partial) throws {
        guard !ids.isEmpty else { return }
        // Samples of buckets of the tier that start in [lower, to).
        let upper = plan.tier.readingsEnd(ofBucketsBefore: to, days: days)
        var fold = RawFold(scan: self, ids: ids, out: out)
        try BlockStore.forEach(seriesIn: ids, from: lower, to: upper, db) { series, s in fold.stored(series.rawValue, s) }
        fold.start(Int32.max)
        fold.finishSeries()
        out = fold.out
    }

    /// `scanRaw`'s state as it walks the stored samples, series by series in id order, with
    /// each series' pending samples merged in. A plain struct, not variables captured by
    /// nested functions (those are checked for exclusive access at every sample).
    private struct RawFold {
        let scan: GroupScan
        let ids: [Int32]
        var out: Partial
        var next = 0                        // ids[next...] not started yet
        var current: Int32 = -1
        var group = -1
        var pending: [Sample] = []
        var j = 0
        /// Fixed steps: the tier bucket of the last sample and its slot (-1: outside the
        /// range), so the next samples of a series in the same bucket skip the divisions.
        var cachedStart = EpochMillis.max, cachedEnd = EpochMillis.min, cachedSlot = -1

        init(scan: GroupScan, ids: [Int32], out: Partial) {
            self.scan = scan
            self.ids = ids
            self.out = out
        }

        mutating func stored(_ series: Int32, _ s: Sample) {
            if series != current {
                current = series
                start(series)
            }
            while j < pending.count && pending[j].time < s.time { add(pending[j]); j += 1 }
            if j < pending.count && pending[j].time == s.time { j += 1 }
            add(s)
        }

        mutating func add(_ s: Sample) {
            let b = GroupBucket(count: 1, sum: s.value, min: s.value, max: s.value)
            guard scan.slots > 0 else {
                let start = scan.plan.tier.bucket(containing: s.time, days: scan.days).start
                guard start >= scan.lower && start < scan.to else { return }
                scan.add(b, at: start, group: group, to: &out)
                return
            }
            if s.time < cachedStart || s.time >= cachedEnd {
                let tier = scan.plan.tier.bucket(containing: s.time, days: scan.days)
                (cachedStart, cachedEnd, cachedSlot) = (tier.start, tier.end, -1)
                if tier.start >= scan.lower && tier.start < scan.to {
                    let slot = Int((scan.plan.bucket(tier.start, timeZone: scan.zone) - scan.first) / scan.plan.stepMillis)
                    if slot >= 0 && slot < scan.slots { cachedSlot = slot }
                }
            }
            if cachedSlot >= 0 { out.flat[group * scan.slots + cachedSlot].merge(b) }
        }

        mutating func finishSeries() {
            while j < pending.count { add(pending[j]); j += 1 }
        }

        /// Starts series `id`, first finishing the ones before it that had no stored sample.
        mutating func start(_ id: Int32) {
            finishSeries()
            while next < ids.count && ids[next] <= id {
                group = Int(scan.groupByID[Int(ids[next])])
                pending = scan.recent[ids[next]] ?? []
                j = 0
                if ids[next] < id { finishSeries() }
                next += 1
            }
        }
    }

    @inline(__always)
    fileprivate func add(_ b: GroupBucket, at t: EpochMillis, group g: Int, to out: inout Partial) {
        let start = plan.bucket(t, timeZone: zone)
        if slots > 0 {
            let slot = Int((start - first) / plan.stepMillis)
            if slot >= 0 && slot < slots { out.flat[g * slots + slot].merge(b) }
        } else {
            out.byDay[g][start, default: .empty].merge(b)
        }
    }

    func merge(_ p: Partial, into total: inout Partial) {
        for i in p.flat.indices where p.flat[i].count > 0 { total.flat[i].merge(p.flat[i]) }
        for g in p.byDay.indices {
            total.byDay[g].merge(p.byDay[g]) { a, b in
                var x = a
                x.merge(b)
                return x
            }
        }
    }

    /// Per group, the buckets that hold readings, in time order.
    func answer(_ p: Partial) -> [[(start: EpochMillis, bucket: GroupBucket)]] {
        guard slots > 0 else { return p.byDay.map { $0.sorted { $0.key < $1.key }.map { (start: $0.key, bucket: $0.value) } } }
        return (0..<groupCount).map { g in
            (0..<slots).compactMap { i in
                let b = p.flat[g * slots + i]
                return b.count > 0 ? (start: first + Int64(i) * plan.stepMillis, bucket: b) : nil
            }
        }
    }
}

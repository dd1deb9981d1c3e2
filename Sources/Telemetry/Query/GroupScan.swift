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

    init(plan: StepPlan, lower: EpochMillis, to: EpochMillis, days: LocalDays, groupCount: Int, groupByID: [Int32],
         recent: [Int32: [Sample]] = [:]) {
        self.plan = plan
        self.lower = lower
        self.to = to
        self.zone = days.timeZone
        self.days = days
        self.recent = recent
        self.groupCount = groupCount
        self.groupByID = groupByID
        first = plan.bucket(lower, timeZone: zone)
        slots = plan.tier == .day ? 0 : Int((to - first) / plan.stepMillis) + 1
    }

    struct Partial: Sendable {
        var flat: [GroupBucket]
        var byDay: [[EpochMillis: GroupBucket]]
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
            for id in chunk {
                let g = Int(groupByID[Int(id)])
                guard g >= 0 else { continue }
                let buckets = fromRaw.contains(id)
                    ? try TierSizing.rawBuckets(plan.tier, series: SeriesID(id), days: days, from: lower, to: to, recent: recent[id] ?? [], db)
                    : try RollupBlockStore.buckets(tier: plan.tier, series: SeriesID(id), from: lower, to: to, db)
                for (start, b) in buckets {
                    add(GroupBucket(count: b.count, sum: b.sum, min: b.min, max: b.max), at: start, group: g, to: &out)
                }
            }
        }
        return out
    }

    @inline(__always)
    private func add(_ b: GroupBucket, at t: EpochMillis, group g: Int, to out: inout Partial) {
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

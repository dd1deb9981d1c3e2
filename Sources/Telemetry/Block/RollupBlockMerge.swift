/// The merge every rollup block container does: the buckets stored in the blocks a run of
/// deltas falls in, and the deltas, become one run in start order, where a bucket in both
/// becomes their aggregate (`Bucket.merge`), or, `replacing`, the given one (an empty one
/// removes it: a correction's sets). Pure: the SQLite and PostgreSQL containers both read the
/// blocks, call this, and write the run back as blocks (`BlockCutter`).
enum RollupBlockMerge {
    static func merge(stored: [(start: EpochMillis, bucket: Bucket)],
                      incoming: some Sequence<(start: EpochMillis, bucket: Bucket)>,
                      replacing: Bool = false) -> [(start: EpochMillis, bucket: Bucket)] {
        var merged: [(start: EpochMillis, bucket: Bucket)] = []
        merged.reserveCapacity(stored.count + incoming.underestimatedCount)
        var i = 0
        var it = incoming.makeIterator()
        var next = it.next()
        while i < stored.count || next != nil {
            if let n = next, i == stored.count || n.start < stored[i].start {
                if !n.bucket.isEmpty { merged.append(n) }
                next = it.next()
            } else if let n = next, n.start == stored[i].start {
                var b = stored[i].bucket
                if replacing { b = n.bucket } else { b.merge(n.bucket) }
                if !b.isEmpty { merged.append((n.start, b)) }
                i += 1
                next = it.next()
            } else {
                merged.append(stored[i])
                i += 1
            }
        }
        return merged
    }
}

/// The merge every block container does when readings arrive: the stored samples of the
/// blocks the new times fall in, and the new samples, become one run in time order with
/// distinct times, where a time already stored keeps its stored value (the first reading
/// wins, as everywhere in the collector). Pure: the SQLite and PostgreSQL containers both
/// read the blocks, call this, and write the run back as blocks (`BlockCutter`).
enum BlockMerge {
    /// `stored` (in time order, distinct) and `incoming` (in time order, distinct) merged;
    /// `added`: the incoming samples whose times were not stored, in time order.
    static func merge(stored: [Sample], incoming: [Sample]) -> (merged: [Sample], added: [Sample]) {
        var added: [Sample] = []
        let merged = merged(stored, incoming) { added.append($0) }
        return (merged, added)
    }

    /// `stored` and `incoming` (each in time order, distinct) as one run in time order, a
    /// stored sample kept over an incoming one at its time; `onAdded` sees each incoming
    /// sample that was taken.
    static func merged(_ stored: [Sample], _ incoming: [Sample], onAdded: (Sample) -> Void = { _ in }) -> [Sample] {
        var merged: [Sample] = []
        merged.reserveCapacity(stored.count + incoming.count)
        var i = 0, j = 0
        while i < stored.count || j < incoming.count {
            if j == incoming.count || (i < stored.count && stored[i].time < incoming[j].time) {
                merged.append(stored[i]); i += 1
            } else if i == stored.count || incoming[j].time < stored[i].time {
                merged.append(incoming[j]); onAdded(incoming[j]); j += 1
            } else {
                merged.append(stored[i]); i += 1; j += 1
            }
        }
        return merged
    }

    /// `samples` in time order, the first of equal times kept (no copy sorted when they are
    /// in order already, as a series' readings mostly are).
    static func distinctInTimeOrder(_ samples: [Sample]) -> [Sample] {
        var ordered = true
        for k in 1..<max(samples.count, 1) where samples[k].time <= samples[k - 1].time {
            ordered = false
            break
        }
        if ordered { return samples }
        var out: [Sample] = []
        out.reserveCapacity(samples.count)
        for s in samples.enumerated().sorted(by: { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }).map(\.element)
        where out.last?.time != s.time {
            out.append(s)
        }
        return out
    }
}

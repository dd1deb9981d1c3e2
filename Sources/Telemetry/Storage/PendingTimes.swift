/// Per series, the times of readings committed and not yet written to their blocks: where a
/// late reading is looked up before the block covering it. Each series' times are kept
/// sorted: a reading in time order is an append, a late one is inserted in place; a lookup is
/// a binary search. (A `Set` of (series, time) keys hashed every reading: 7 % of an import.)
struct PendingTimes {
    private var times: [[EpochMillis]] = []

    /// Adds `t` to series index `i` (not there yet: readings are deduplicated first).
    mutating func insert(_ t: EpochMillis, series i: Int) {
        if i >= times.count { times.append(contentsOf: repeatElement([], count: i + 1 - times.count)) }
        if let last = times[i].last, t < last {
            times[i].insert(t, at: times[i].firstIndex(notBefore: t) { $0 })
        } else {
            times[i].append(t)
        }
    }

    func contains(_ t: EpochMillis, series i: Int) -> Bool {
        guard i < times.count else { return false }
        let a = times[i]
        let k = a.firstIndex(notBefore: t) { $0 }
        return k < a.count && a[k] == t
    }

    /// How many times series index `i` holds.
    func count(series i: Int) -> Int { i < times.count ? times[i].count : 0 }

    /// Forgets `t` of series index `i`.
    mutating func remove(_ t: EpochMillis, series i: Int) {
        guard i < times.count else { return }
        let k = times[i].firstIndex(notBefore: t) { $0 }
        if k < times[i].count && times[i][k] == t { times[i].remove(at: k) }
    }

    /// Forgets every time of series index `i` (its readings are all written), and its
    /// buffer: a million quiet series would otherwise each keep one.
    mutating func removeAll(series i: Int) {
        guard i < times.count else { return }
        times[i] = []
    }
}

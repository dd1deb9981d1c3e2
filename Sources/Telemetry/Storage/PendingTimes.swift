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
            times[i].insert(t, at: Self.lowerBound(times[i], t))
        } else {
            times[i].append(t)
        }
    }

    func contains(_ t: EpochMillis, series i: Int) -> Bool {
        guard i < times.count else { return false }
        let a = times[i]
        let k = Self.lowerBound(a, t)
        return k < a.count && a[k] == t
    }

    /// How many times series index `i` holds.
    func count(series i: Int) -> Int { i < times.count ? times[i].count : 0 }

    /// Forgets `t` of series index `i`.
    mutating func remove(_ t: EpochMillis, series i: Int) {
        guard i < times.count else { return }
        let k = Self.lowerBound(times[i], t)
        if k < times[i].count && times[i][k] == t { times[i].remove(at: k) }
    }

    /// Forgets every time of series index `i` (its readings are all written), and its
    /// buffer: a million quiet series would otherwise each keep one.
    mutating func removeAll(series i: Int) {
        guard i < times.count else { return }
        times[i] = []
    }

    private static func lowerBound(_ a: [EpochMillis], _ t: EpochMillis) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

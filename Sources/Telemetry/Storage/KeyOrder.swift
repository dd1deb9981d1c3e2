/// Readings put in key order, (series, time), ties in arrival order: a counting sort by series
/// id (ids are dense), then each series' run sorted by time only where it is not in order
/// already. A batch arrives in time order, series interleaved, so the second step is rare;
/// a comparison sort of the whole batch was a tenth of an import's committing thread.
struct KeyOrder {
    /// Per series id, where its run starts (scratch, reused between batches).
    private var starts: [Int] = []

    /// The indices of `readings` in key order, ties in index order.
    mutating func indices(of readings: [BoundReading], into order: inout [Int]) {
        order.removeAll(keepingCapacity: true)
        guard !readings.isEmpty else { return }
        // In key order already (the commit's accepted readings, handed on sorted).
        var inOrder = true
        for k in readings.indices.dropFirst() where (readings[k].series.rawValue, readings[k].time) < (readings[k - 1].series.rawValue, readings[k - 1].time) {
            inOrder = false
            break
        }
        if inOrder {
            order.append(contentsOf: readings.indices)
            return
        }
        var top = 0
        for r in readings where r.series.index > top { top = r.series.index }
        // Few readings of many series' ids: a counting sort would walk mostly empty runs.
        guard top <= 4 * readings.count + 1_024 else {
            order.append(contentsOf: readings.indices)
            order.sort { (readings[$0].series.rawValue, readings[$0].time, $0) < (readings[$1].series.rawValue, readings[$1].time, $1) }
            return
        }
        starts.removeAll(keepingCapacity: true)
        starts.append(contentsOf: repeatElement(0, count: top + 2))
        for r in readings { starts[r.series.index + 1] += 1 }
        for s in 1..<starts.count { starts[s] += starts[s - 1] }
        order.append(contentsOf: repeatElement(0, count: readings.count))
        var next = starts
        for (i, r) in readings.enumerated() {
            order[next[r.series.index]] = i
            next[r.series.index] += 1
        }
        for s in 0...top where starts[s + 1] - starts[s] > 1 {
            let run = starts[s]..<starts[s + 1]
            var sorted = true
            for k in run.dropFirst() where readings[order[k]].time < readings[order[k - 1]].time {
                sorted = false
                break
            }
            if !sorted { order[run].sort { (readings[$0].time, $0) < (readings[$1].time, $1) } }
        }
    }

    /// `readings` in key order (ties in arrival order).
    mutating func sorted(_ readings: [BoundReading]) -> [BoundReading] {
        var order: [Int] = []
        indices(of: readings, into: &order)
        return order.map { readings[$0] }
    }
}

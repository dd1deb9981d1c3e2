import Synchronization

/// The readings committed (journaled) but not yet written to their series' sample blocks:
/// the in-memory head of raw storage, shared between the ingest thread and readers.
///
/// `TelemetryStore` adds each commit's new readings and writes one slice of series at a time
/// into the blocks (`sliceCount` slices by series id, in rotation), so a series' newest block
/// is rewritten once a rotation with a rotation's worth of readings instead of once a
/// commit. The journal rows keep them durable meanwhile. Readers merge a series' pending
/// readings with its stored ones (`merged`): take the pending ones first, then read storage,
/// so a reading written in between is found in one or both, never in neither.
public final class RawPending: Sendable {
    /// How many slices the series are split into.
    public static let sliceCount = 64
    private let slices = Mutex<[[BoundReading]]>(Array(repeating: [], count: RawPending.sliceCount))

    public init() {}

    /// The slice a series belongs to.
    @inlinable
    public static func slice(of id: SeriesID) -> Int { Int(id.rawValue) & (sliceCount - 1) }

    /// How many readings are pending.
    public var count: Int { slices.withLock { $0.reduce(0) { $0 + $1.count } } }

    /// Adds committed readings (the ingest thread, after the commit).
    func add(_ readings: [BoundReading]) {
        guard !readings.isEmpty else { return }
        slices.withLock { s in
            // A run of one series (readings in key order) goes to its slice at once.
            var start = 0
            while start < readings.count {
                let series = readings[start].series
                var end = start + 1
                while end < readings.count && readings[end].series == series { end += 1 }
                s[Self.slice(of: series)].append(contentsOf: readings[start..<end])
                start = end
            }
        }
    }

    /// The pending readings of slice `k` (a copy: they stay pending until `remove`).
    func readings(inSlice k: Int) -> [BoundReading] { slices.withLock { $0[k] } }

    /// Forgets the first `n` readings of slice `k`, once they are written to the sample blocks; returns
    /// how many it forgot.
    @discardableResult
    func remove(first n: Int, ofSlice k: Int) -> Int {
        guard n > 0 else { return 0 }
        return slices.withLock { s in
            let gone = min(n, s[k].count)
            if gone == s[k].count { s[k].removeAll(keepingCapacity: true) } else { s[k].removeFirst(gone) }
            return gone
        }
    }

    /// The pending readings of `id` with `from <= t < to`, in time order.
    public func samples(of id: SeriesID, from: EpochMillis, to: EpochMillis) -> [Sample] {
        var out: [Sample] = []
        slices.withLock { s in
            for r in s[Self.slice(of: id)] where r.series == id && r.time >= from && r.time < to {
                out.append(Sample(time: r.time, value: r.value))
            }
        }
        out.sort { $0.time < $1.time }
        return out
    }

    /// The newest pending reading of each series that has one (`series.last_*` follows
    /// the sample blocks). Scans a slice per lock, so the ingest thread is never held up for long.
    public func newest() -> [SeriesID: Sample] {
        let none = Sample(time: .min, value: 0)
        var latest: [Sample] = []
        for k in 0..<Self.sliceCount {
            slices.withLock { s in
                for r in s[k] {
                    let i = r.series.index
                    if i >= latest.count { latest.append(contentsOf: repeatElement(none, count: i + 1 - latest.count)) }
                    if r.time > latest[i].time { latest[i] = Sample(time: r.time, value: r.value) }
                }
            }
        }
        var out: [SeriesID: Sample] = [:]
        for (i, s) in latest.enumerated() where s.time != .min { out[SeriesID(Int32(i))] = s }
        return out
    }

    /// `stored` (in time order, from the sample blocks) and `pending` (from `samples`, taken before
    /// `stored` was read) as one list in time order, each time once.
    public static func merged(_ stored: [Sample], _ pending: [Sample]) -> [Sample] {
        pending.isEmpty ? stored : BlockMerge.merged(stored, pending)
    }
}

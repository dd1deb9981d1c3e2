/// The hot-path downsampler: every new reading updates one bucket per tier in O(1).
///
/// It holds *deltas*, not totals: what arrived since the last merge. Each tier of each
/// series has one open bucket; a reading in it is added in place, a reading for a newer
/// bucket moves the open one forward, and a reading older than the open bucket (late data,
/// backlogs) is kept as a delta for that older bucket. `TelemetryStore` drains the deltas
/// into the stored rows at a merge (in a commit's transaction, or later under load with a
/// journal of the readings), and they are cleared. Since merging is order-independent,
/// rollups are exact whatever the arrival order; duplicates never reach here because
/// storage dedupes them first.
public struct Downsampler: Sendable {
    /// The open bucket of one tier of one series: `[start, end)` and its delta.
    @usableFromInline
    struct Slot: Sendable {
        @usableFromInline var start: EpochMillis = .min
        @usableFromInline var end: EpochMillis = .min
        @usableFromInline var delta: Bucket = .empty
        @usableFromInline init() {}
        @usableFromInline init(start: EpochMillis, end: EpochMillis, delta: Bucket) {
            self.start = start
            self.end = end
            self.delta = delta
        }
    }

    @usableFromInline static let tiers = Tier.allCases.count
    @usableFromInline var slots: ContiguousArray<Slot> = []
    @usableFromInline var dirty: ContiguousArray<Bool> = []
    @usableFromInline var dirtyList: [SeriesID] = []
    @usableFromInline var late: [BucketKey: Bucket] = [:]
    /// Deltas of open buckets that a newer reading closed before the commit took them: one
    /// each, appended without hashing (a key here may also be in `late`; the merge folds them).
    @usableFromInline var closed: [(key: BucketKey, bucket: Bucket)] = []
    @usableFromInline var days: LocalDays

    public init(days: LocalDays) {
        self.days = days
    }

    /// Makes room for series ids below `count` (call when new series are registered).
    public mutating func reserve(seriesCount count: Int) {
        guard count > dirty.count else { return }
        var n = Swift.max(dirty.count, 64)
        while n < count { n <<= 1 }
        slots.append(contentsOf: repeatElement(Slot(), count: n * Self.tiers - slots.count))
        dirty.append(contentsOf: repeatElement(false, count: n - dirty.count))
        // Room for every tier of every series to close a bucket between two commits, so the
        // steady state appends without growing (a reservation: pages are touched when used).
        closed.reserveCapacity(n * Self.tiers)
    }

    /// The start of the bucket of `tier` that contains `t`.
    @inlinable
    public mutating func bucketStart(_ tier: Tier, _ t: EpochMillis) -> EpochMillis {
        if tier == .day { return days.day(containing: t).start }
        let w = tier.widthMillis
        return EpochMillis.floorDiv(t, w) * w
    }

    /// Adds a reading that storage has just accepted as new. A reading inside each tier's
    /// open bucket (the common case) costs four range checks and four in-place adds: no
    /// division, no calendar, no hashing.
    @inlinable
    public mutating func add(series: SeriesID, time: EpochMillis, value: Double) {
        let base = series.index &* Self.tiers
        if !dirty[series.index] {
            dirty[series.index] = true
            dirtyList.append(series)
        }
        precondition(base &+ Self.tiers <= slots.count, "series id not reserved")
        let inside = slots.withUnsafeMutableBufferPointer { p in
            var mask = 0
            for t in 0..<Self.tiers {
                let i = base &+ t
                if time >= p[i].start && time < p[i].end {
                    p[i].delta.add(time: time, value: value)
                    mask |= 1 << t
                }
            }
            return mask
        }
        if inside != (1 << Self.tiers) - 1 { addOutside(series: series, base: base, time: time, value: value, done: inside) }
    }

    /// Adds a reading to every tier but `skipped` (a journal replay: the 1m tier has it already).
    public mutating func add(series: SeriesID, time: EpochMillis, value: Double, skipping skipped: Tier) {
        let base = series.index &* Self.tiers
        precondition(base &+ Self.tiers <= slots.count, "series id not reserved")
        if !dirty[series.index] {
            dirty[series.index] = true
            dirtyList.append(series)
        }
        var done = 1 << skipped.rawValue
        for tier in Tier.allCases where tier != skipped {
            let i = base &+ tier.rawValue
            if time >= slots[i].start && time < slots[i].end {
                slots[i].delta.add(time: time, value: value)
                done |= 1 << tier.rawValue
            }
        }
        if done != (1 << Self.tiers) - 1 { addOutside(series: series, base: base, time: time, value: value, done: done) }
    }

    /// The tiers (not in `done`) whose open bucket does not contain `time`: a newer bucket
    /// opens (the old delta is kept for the commit), or an older one gets a late delta.
    @usableFromInline
    mutating func addOutside(series: SeriesID, base: Int, time: EpochMillis, value: Double, done: Int) {
        for tier in Tier.allCases where done & (1 << tier.rawValue) == 0 {
            let i = base &+ tier.rawValue
            let b = bucketStart(tier, time)
            let open = slots[i].start
            if b > open {
                if !slots[i].delta.isEmpty {
                    closed.append((BucketKey(tier: tier, series: series, start: open), slots[i].delta))
                }
                let end = tier == .day ? days.day(containing: time).end : b &+ tier.widthMillis
                slots[i] = Slot(start: b, end: end, delta: Bucket(time: time, value: value))
            } else {
                late[BucketKey(tier: tier, series: series, start: b), default: .empty].add(time: time, value: value)
            }
        }
    }

    /// True when there is nothing to commit.
    public var isClean: Bool { dirtyList.isEmpty && late.isEmpty && closed.isEmpty }

    /// Hands every pending delta to `body`, then clears them all. A bucket may come more than
    /// once (its deltas sum to its change). If `body` throws, the caller must
    /// `discardDeltas()` (its transaction rolled back).
    public mutating func drain(_ body: (BucketKey, Bucket) throws -> Void) rethrows {
        for series in dirtyList {
            let base = series.index * Self.tiers
            for tier in Tier.allCases where !slots[base + tier.rawValue].delta.isEmpty {
                let slot = slots[base + tier.rawValue]
                try body(BucketKey(tier: tier, series: series, start: slot.start), slot.delta)
            }
        }
        for (key, delta) in closed {
            try body(key, delta)
        }
        for (key, delta) in late {
            try body(key, delta)
        }
        discardDeltas()
    }

    /// Forgets every pending delta (after a rolled-back commit; the batch will come again).
    public mutating func discardDeltas() {
        for series in dirtyList {
            let base = series.index * Self.tiers
            for t in 0..<Self.tiers { slots[base + t].delta = .empty }
            dirty[series.index] = false
        }
        dirtyList.removeAll(keepingCapacity: true)
        late.removeAll(keepingCapacity: true)
        closed.removeAll(keepingCapacity: true)
    }
}

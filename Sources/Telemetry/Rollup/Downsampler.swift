/// The hot-path downsampler: every new reading updates one bucket per tier in O(1).
///
/// It holds *deltas*, not totals: what arrived since the last commit. Each tier of each
/// series has one open bucket; a reading in it is added in place, a reading for a newer
/// bucket moves the open one forward, and a reading older than the open bucket (late data,
/// backlogs) is kept as a delta for that older bucket. At commit the deltas are merged
/// into the stored rows (see `TelemetryStore`), in the same transaction as the raw
/// readings, and cleared. Since merging is order-independent, rollups are exact whatever
/// the arrival order; duplicates never reach here because storage dedupes them first.
public struct Downsampler: Sendable {
    @usableFromInline
    struct Slot: Sendable {
        @usableFromInline var start: EpochMillis = .min
        @usableFromInline var delta: Bucket = .empty
        @usableFromInline init() {}
        @usableFromInline init(start: EpochMillis, delta: Bucket) {
            self.start = start
            self.delta = delta
        }
    }

    @usableFromInline static let tiers = Tier.allCases.count
    @usableFromInline var slots: ContiguousArray<Slot> = []
    @usableFromInline var dirty: ContiguousArray<Bool> = []
    @usableFromInline var dirtyList: [SeriesID] = []
    @usableFromInline var late: [BucketKey: Bucket] = [:]
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
    }

    /// The start of the bucket of `tier` that contains `t`.
    @inlinable
    public mutating func bucketStart(_ tier: Tier, _ t: EpochMillis) -> EpochMillis {
        if tier == .day { return days.day(containing: t).start }
        let w = tier.widthMillis
        return EpochMillis.floorDiv(t, w) * w
    }

    /// Adds a reading that storage has just accepted as new.
    @inlinable
    public mutating func add(series: SeriesID, time: EpochMillis, value: Double) {
        let base = series.index &* Self.tiers
        if !dirty[series.index] {
            dirty[series.index] = true
            dirtyList.append(series)
        }
        for tier in Tier.allCases {
            let i = base &+ tier.rawValue
            let b = bucketStart(tier, time)
            let open = slots[i].start
            if b == open {
                slots[i].delta.add(time: time, value: value)
            } else if b > open {
                if !slots[i].delta.isEmpty {
                    late[BucketKey(tier: tier, series: series, start: open), default: .empty].merge(slots[i].delta)
                }
                slots[i] = Slot(start: b, delta: Bucket(time: time, value: value))
            } else {
                late[BucketKey(tier: tier, series: series, start: b), default: .empty].add(time: time, value: value)
            }
        }
    }

    /// True when there is nothing to commit.
    public var isClean: Bool { dirtyList.isEmpty && late.isEmpty }

    /// Hands every pending delta to `body`, then clears them all. If `body` throws, the
    /// caller must `discardDeltas()` (its transaction rolled back).
    public mutating func drain(_ body: (BucketKey, Bucket) throws -> Void) rethrows {
        for series in dirtyList {
            let base = series.index * Self.tiers
            for tier in Tier.allCases where !slots[base + tier.rawValue].delta.isEmpty {
                let slot = slots[base + tier.rawValue]
                try body(BucketKey(tier: tier, series: series, start: slot.start), slot.delta)
            }
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
    }
}

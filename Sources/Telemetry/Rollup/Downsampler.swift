/// The hot-path downsampler: a new reading updates its series' open minute in O(1); the
/// coarser tiers (15m, 1h, 1d) take a whole minute at once, when it closes or is handed over.
///
/// It holds *deltas*, not totals: what arrived since the last merge. Each tier of each series
/// has one open bucket.
/// - The open minute is the accumulator. Its delta counts towards every tier: its range lies
///   inside every coarser open bucket (the whole minute, unless a local midnight at a seconds
///   offset cuts it; then the part on the reading's side of the cut).
/// - A coarser delta holds what was folded into it: the minutes that closed inside its bucket,
///   and late readings for that bucket.
/// - A reading newer than the open minute closes it: its delta is kept for the commit and
///   folded into each coarser delta. Every coarser bucket the reading is past closes too, and
///   the reading opens the next minute.
/// - A reading older than the open minute (late data, backlogs) goes to each coarser bucket
///   that holds it, and to a late delta for every other, the minute included.
///
/// `TelemetryStore` drains the deltas into the stored rows at a merge (in a commit's
/// transaction, or later under load with a journal of the readings), and they are cleared.
/// Since merging is order-independent, rollups are exact whatever the arrival order;
/// duplicates never reach here because storage dedupes them first.
///
/// The minutes are kept apart from the coarser tiers, so the common reading touches 80 bytes
/// of its series. With ten-second readings, five in six stay inside their minute.
public struct Downsampler: Sendable {
    /// A series' open minute: `[start, end)` and its delta.
    @usableFromInline
    struct Minute: Sendable {
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

    /// The bounds of a coarser tier's open bucket, `[start, end)`.
    @usableFromInline
    struct Span: Sendable {
        @usableFromInline var start: EpochMillis = .min
        @usableFromInline var end: EpochMillis = .min
        @usableFromInline init() {}
        @usableFromInline init(start: EpochMillis, end: EpochMillis) {
            self.start = start
            self.end = end
        }
    }

    /// What a series holds since the last drain.
    @usableFromInline
    enum State: UInt8, Sendable {
        case clean
        /// Readings, but every coarser delta is empty: they come through the minute.
        case minute
        /// Coarser deltas too (folded minutes, late readings).
        case coarser
    }

    /// The tiers above the minute, and each by its index `k` (0: 15m, 1: 1h, 2: 1d). Not
    /// `Tier.allCases`, an array built at every use.
    @usableFromInline static var coarser: Int { 3 }
    @inlinable static func coarserTier(_ k: Int) -> Tier { k == 0 ? .quarterHour : k == 1 ? .hour : .day }
    /// One per series, indexed by series id: the minute accumulators, the part of the
    /// state the common reading touches.
    @usableFromInline var minutes: ContiguousArray<Minute> = []
    @usableFromInline var states: ContiguousArray<State> = []
    /// Per series, a bit per tier (`1 << tier.rawValue`) the series does not store: its
    /// buckets are answered from the raw readings (`TierSizing`), so no delta of it is kept.
    /// The minute still accumulates (the coarser tiers take it whole).
    @usableFromInline var fromRaw: ContiguousArray<UInt8> = []
    /// Three per series (15m, 1h, 1d), at `id * 3 + tier - 1`.
    @usableFromInline var spans: ContiguousArray<Span> = []
    @usableFromInline var deltas: ContiguousArray<Bucket> = []
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
        guard count > minutes.count else { return }
        var n = Swift.max(minutes.count, 64)
        while n < count { n <<= 1 }
        let more = n - minutes.count
        minutes.append(contentsOf: repeatElement(Minute(), count: more))
        states.append(contentsOf: repeatElement(.clean, count: more))
        fromRaw.append(contentsOf: repeatElement(0, count: more))
        spans.append(contentsOf: repeatElement(Span(), count: more * Self.coarser))
        deltas.append(contentsOf: repeatElement(.empty, count: more * Self.coarser))
        // Room for every tier of every series to close a bucket between two commits, so the
        // steady state appends without growing (a reservation: pages are touched when used).
        closed.reserveCapacity(n * (1 + Self.coarser))
    }

    /// From now on no delta of `tier` is kept for `series`: the series does not store that
    /// tier (the merger has decided so, for good, and drops such deltas). Those of its open
    /// buckets are not handed over either.
    public mutating func answerFromRaw(_ tier: Tier, series: SeriesID) {
        guard series.index < fromRaw.count else { return }
        fromRaw[series.index] |= 1 << UInt8(tier.rawValue)
    }

    /// Whether `series` stores `tier` (`answerFromRaw`).
    @inlinable
    func stores(_ tier: Tier, _ s: Int) -> Bool { fromRaw[s] & (1 << UInt8(tier.rawValue)) == 0 }

    /// The start of the bucket of `tier` that contains `t`.
    @inlinable
    public mutating func bucketStart(_ tier: Tier, _ t: EpochMillis) -> EpochMillis {
        tier == .day ? days.day(containing: t).start : Self.utcBucketStart(tier, t)
    }

    /// The start of the 1m, 15m or 1h bucket that contains `t` (they align to the epoch).
    @inlinable
    static func utcBucketStart(_ tier: Tier, _ t: EpochMillis) -> EpochMillis {
        EpochMillis.floorDiv(t, tier.widthMillis) * tier.widthMillis
    }

    /// Adds a reading that storage has just accepted as new. A reading inside its series'
    /// open minute (the common case) costs one range check and one in-place add: no division,
    /// no calendar, no hashing.
    @inlinable
    public mutating func add(series: SeriesID, time: EpochMillis, value: Double) {
        let s = series.index
        precondition(s < minutes.count, "series id not reserved")
        markDirty(series)
        let inside = minutes.withUnsafeMutableBufferPointer { p in
            guard time >= p[s].start && time < p[s].end else { return false }
            p[s].delta.add(time: time, value: value)
            return true
        }
        if !inside { addOutside(series: series, time: time, value: value) }
    }

    /// Adds a reading to the 15m, 1h and 1d tiers only (a journal replay: its 1m delta is
    /// merged already). The open buckets do not move.
    public mutating func addToCoarserTiers(series: SeriesID, time: EpochMillis, value: Double) {
        precondition(series.index < minutes.count, "series id not reserved")
        markDirty(series)
        for k in 0..<Self.coarser { addToCoarser(Self.coarserTier(k), series: series, time: time, value: value) }
    }

    /// Lists a series with readings since the last drain.
    @inlinable
    mutating func markDirty(_ series: SeriesID) {
        guard states[series.index] == .clean else { return }
        states[series.index] = .minute
        dirtyList.append(series)
    }

    /// A reading outside its series' open minute.
    @usableFromInline
    mutating func addOutside(series: SeriesID, time: EpochMillis, value: Double) {
        let s = series.index
        let minute = minutes[s]
        if time < minute.start {
            // Late: the open minute is not its bucket, so no coarser tier gets it through
            // the minute. Every coarser open bucket ends after it (each holds the minute).
            if stores(.minute, s) {
                late[BucketKey(tier: .minute, series: series, start: bucketStart(.minute, time)), default: .empty]
                    .add(time: time, value: value)
            }
            for k in 0..<Self.coarser { addToCoarser(Self.coarserTier(k), series: series, time: time, value: value) }
            return
        }
        // Newer: the minute closes and is folded into each coarser delta (all of which hold it).
        let base = s &* Self.coarser
        if !minute.delta.isEmpty {
            if stores(.minute, s) {
                closed.append((BucketKey(tier: .minute, series: series, start: bucketStart(.minute, minute.start)), minute.delta))
            }
            for k in 0..<Self.coarser { deltas[base &+ k].merge(minute.delta) }
            states[s] = .coarser
        }
        // Each coarser bucket that ends before the reading closes in turn (none can start after
        // it: each began at or before the old minute).
        var lo = bucketStart(.minute, time)
        var hi = lo &+ Tier.minute.widthMillis
        for k in 0..<Self.coarser {
            let tier = Self.coarserTier(k)
            let i = base &+ k
            if time >= spans[i].end {
                if !deltas[i].isEmpty {
                    if stores(tier, s) { closed.append((BucketKey(tier: tier, series: series, start: spans[i].start), deltas[i])) }
                    deltas[i] = .empty
                }
                if tier == .day {
                    let day = days.day(containing: time)
                    spans[i] = Span(start: day.start, end: day.end)
                } else {
                    let start = Self.utcBucketStart(tier, time)
                    spans[i] = Span(start: start, end: start &+ tier.widthMillis)
                }
            }
            lo = Swift.max(lo, spans[i].start)
            hi = Swift.min(hi, spans[i].end)
        }
        minutes[s] = Minute(start: lo, end: hi, delta: Bucket(time: time, value: value))
    }

    /// Adds a reading to a coarser tier's open bucket if it holds the reading, else to a late
    /// delta for the reading's own bucket of that tier. The series is marked dirty already.
    @usableFromInline
    mutating func addToCoarser(_ tier: Tier, series: SeriesID, time: EpochMillis, value: Double) {
        let i = series.index &* Self.coarser &+ tier.rawValue &- 1
        if time >= spans[i].start && time < spans[i].end {
            deltas[i].add(time: time, value: value)
            states[series.index] = .coarser
        } else if stores(tier, series.index) {
            late[BucketKey(tier: tier, series: series, start: bucketStart(tier, time)), default: .empty]
                .add(time: time, value: value)
        }
    }

    /// True when there is nothing to commit.
    public var isClean: Bool { dirtyList.isEmpty && late.isEmpty && closed.isEmpty }

    /// Hands every pending delta to `body`, then clears them all. A bucket may come more than
    /// once (its deltas sum to its change). If `body` throws, the caller must
    /// `discardDeltas()` (its transaction rolled back). Inlinable, so the caller's `body` is
    /// inlined into the loop.
    @inlinable
    public mutating func drain(_ body: (BucketKey, Bucket) throws -> Void) rethrows {
        for series in dirtyList {
            let s = series.index
            let minute = minutes[s].delta
            let skip = fromRaw[s]
            if !minute.isEmpty && skip & 1 == 0 {
                try body(BucketKey(tier: .minute, series: series, start: Self.utcBucketStart(.minute, minutes[s].start)), minute)
            }
            let base = s &* Self.coarser
            if states[s] == .coarser {
                for k in 0..<Self.coarser where skip & (2 << UInt8(k)) == 0 {
                    let i = base &+ k
                    var delta = deltas[i]
                    delta.merge(minute)
                    if !delta.isEmpty { try body(BucketKey(tier: Self.coarserTier(k), series: series, start: spans[i].start), delta) }
                }
            } else if !minute.isEmpty {
                for k in 0..<Self.coarser where skip & (2 << UInt8(k)) == 0 {
                    try body(BucketKey(tier: Self.coarserTier(k), series: series, start: spans[base &+ k].start), minute)
                }
            }
            clear(s)
        }
        for (key, delta) in closed {
            try body(key, delta)
        }
        for (key, delta) in late {
            try body(key, delta)
        }
        clearLists()
    }

    /// Forgets every pending delta (after a rolled-back commit; the batch will come again).
    public mutating func discardDeltas() {
        for series in dirtyList { clear(series.index) }
        clearLists()
    }

    /// Empties one series' deltas (the coarser ones only if they hold anything).
    @inlinable
    mutating func clear(_ s: Int) {
        minutes[s].delta = .empty
        if states[s] == .coarser {
            let base = s &* Self.coarser
            for k in 0..<Self.coarser { deltas[base &+ k] = .empty }
        }
        states[s] = .clean
    }

    @usableFromInline
    mutating func clearLists() {
        dirtyList.removeAll(keepingCapacity: true)
        late.removeAll(keepingCapacity: true)
        closed.removeAll(keepingCapacity: true)
    }
}

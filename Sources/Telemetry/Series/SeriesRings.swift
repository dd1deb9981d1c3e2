/// The latest samples of every series, indexed by `SeriesID`: each series has a ring of
/// `capacity` samples kept in time order.
///
/// In-order readings append in O(1). A late reading that still falls inside its ring's span
/// is inserted in place (O(capacity) at worst); one older than a full ring is not kept here
/// (storage has it). A time already present is a duplicate and ignored.
///
/// A slot is 12 bytes: the value, and the time as a 32-bit count of milliseconds after a
/// base kept in the series' header (16 bytes a series). So a ring spans at most
/// `maxSpanMillis` (49.7 days): a reading that far after the oldest samples evicts them, and
/// a late one that far before the newest is not kept. Moving the base (to the oldest kept
/// sample) rewrites the ring's offsets: once per 49 days for a ring that spans less, at each
/// new reading for one whose samples span the whole 49 days (a series reporting every 9 hours
/// or less often).
///
/// The rings live side by side in chunks of about 768 KB, not in a buffer each: recording a
/// reading then touches its slot and its header, and no buffer header of its own. With
/// a buffer per series, that header was a cache miss at every reading (the `Rules` benchmark
/// "Hot path", 1,000 series, readings inside their open buckets: 78 against 35 ns per reading,
/// the four tiers included). Chunks, rather than one buffer, let the rings grow with the
/// series without copying them all; a chunk is allocated at its first reading.
public struct SeriesRings: Sendable {
    /// A series' time base, where its ring starts in its chunk (`head`) and how many samples
    /// it holds. `base` is at most the oldest sample's time.
    @usableFromInline
    struct Header: Sendable {
        @usableFromInline var base: EpochMillis = 0
        @usableFromInline var head: Int32 = 0
        @usableFromInline var count: Int32 = 0
        @usableFromInline init() {}
    }

    /// A sample in 12 bytes: its time as an offset from its series' base, and its value's
    /// bits in two halves (so the slot needs only 4-byte alignment).
    @usableFromInline
    struct Slot: Sendable {
        @usableFromInline var offset: UInt32
        @usableFromInline var low: UInt32
        @usableFromInline var high: UInt32
        @inlinable init(offset: UInt32, value: Double) {
            self.offset = offset
            low = UInt32(truncatingIfNeeded: value.bitPattern)
            high = UInt32(truncatingIfNeeded: value.bitPattern >> 32)
        }
        @inlinable var value: Double { Double(bitPattern: UInt64(high) << 32 | UInt64(low)) }
    }

    /// The longest time between the oldest and the newest sample of a ring.
    public static let maxSpanMillis = EpochMillis(UInt32.max)
    /// Samples per chunk, unless one ring needs more.
    @usableFromInline static let chunkSamples = 65_536
    /// Series per chunk: `1 << chunkShift` (a shift, not a division, on the hot path).
    @usableFromInline let chunkShift: Int
    @usableFromInline var chunkSeries: Int { 1 << chunkShift }
    /// Empty until the first reading of one of its series.
    @usableFromInline var chunks: [ContiguousArray<Slot>] = []
    @usableFromInline var headers: ContiguousArray<Header> = []
    /// Samples kept per series.
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max), "ring capacity must be positive")
        self.capacity = capacity
        var shift = 0
        while (2 << shift) * capacity <= Self.chunkSamples { shift += 1 }
        chunkShift = shift
    }

    /// How many series have a ring (ids below this).
    public var seriesCount: Int { headers.count }

    /// Makes rings for every series id below `count`.
    public mutating func reserve(seriesCount count: Int) {
        guard count > headers.count else { return }
        headers.append(contentsOf: repeatElement(Header(), count: count - headers.count))
        while chunks.count * chunkSeries < count { chunks.append([]) }
    }

    /// The number of samples held for `series` (0 for one without a ring yet).
    public func count(of series: SeriesID) -> Int {
        series.index < headers.count ? Int(headers[series.index].count) : 0
    }

    /// The newest sample of `series` by reading time.
    public func latest(of series: SeriesID) -> Sample? {
        let n = count(of: series)
        guard n > 0 else { return nil }
        return self[series, n - 1]
    }

    /// The samples of `series`, oldest first (for the stages and tests, not the hot path).
    public func samples(of series: SeriesID) -> [Sample] {
        (0..<count(of: series)).map { self[series, $0] }
    }

    /// The `i`th oldest sample of `series`.
    @usableFromInline
    subscript(series: SeriesID, i: Int) -> Sample {
        let (c, start) = place(series)
        let h = headers[series.index]
        let slot = start &+ Self.wrap(Int(h.head) &+ i, capacity)
        let o = chunks[c][slot]
        return Sample(time: h.base &+ EpochMillis(o.offset), value: o.value)
    }

    /// The chunk of `series` and where its ring starts in it.
    @inlinable
    func place(_ series: SeriesID) -> (chunk: Int, start: Int) {
        (series.index &>> chunkShift, (series.index & (chunkSeries &- 1)) &* capacity)
    }

    /// A ring position (`head + i`, below twice the capacity) within the ring.
    @inlinable
    static func wrap(_ p: Int, _ capacity: Int) -> Int { p >= capacity ? p &- capacity : p }

    /// `time - base` when it fits a slot's offset.
    @inlinable
    static func offset(_ time: EpochMillis, from base: EpochMillis) -> UInt32? {
        let (d, overflow) = time.subtractingReportingOverflow(base)
        return overflow || d < 0 || d > maxSpanMillis ? nil : UInt32(truncatingIfNeeded: d)
    }

    /// Records a sample of `series` (which must have a ring: `reserve`); returns false when it
    /// was a duplicate, older than its whole full ring, or `maxSpanMillis` before its newest.
    @inlinable
    @discardableResult
    public mutating func record(_ s: Sample, of series: SeriesID) -> Bool {
        precondition(series.index >= 0 && series.index < headers.count, "series id not reserved")
        let (c, start) = place(series)
        if chunks[c].isEmpty { allocate(chunk: c) }
        let capacity = self.capacity
        var h = headers[series.index]
        if h.count == 0 { h.base = s.time }
        guard let o = Self.offset(s.time, from: h.base) ?? rebase(&h, for: s.time, chunk: c, start: start) else {
            return false
        }
        defer { headers[series.index] = h }
        return chunks[c].withUnsafeMutableBufferPointer { slots in
            var count = Int(h.count)
            var head = Int(h.head)
            @inline(__always) func at(_ i: Int) -> Int { start &+ Self.wrap(head &+ i, capacity) }
            if count > 0 && o <= slots[at(count &- 1)].offset {
                // Late or a duplicate: find its place from the newest end (late data is
                // usually recent).
                if o == slots[at(count &- 1)].offset { return false }
                var i = count &- 1
                while i >= 0 && slots[at(i)].offset > o { i &-= 1 }
                if i >= 0 && slots[at(i)].offset == o { return false }
                if i < 0 && count == capacity { return false }   // older than everything kept
                var position = i &+ 1
                if count == capacity {   // the oldest makes room
                    head = Self.wrap(head &+ 1, capacity)
                    count &-= 1
                    position &-= 1
                }
                var j = count
                while j > position {
                    slots[at(j)] = slots[at(j &- 1)]
                    j &-= 1
                }
                slots[at(position)] = Slot(offset: o, value: s.value)
                h.head = Int32(truncatingIfNeeded: head)
                h.count = Int32(truncatingIfNeeded: count &+ 1)
                return true
            }
            if count == capacity {
                slots[start &+ head] = Slot(offset: o, value: s.value)
                h.head = Int32(truncatingIfNeeded: Self.wrap(head &+ 1, capacity))
            } else {
                slots[at(count)] = Slot(offset: o, value: s.value)
                h.count = Int32(truncatingIfNeeded: count &+ 1)
            }
            return true
        }
    }
}

extension SeriesRings {
    /// Forgets every sample of `series` (its ring is refilled by `record`).
    public mutating func clear(_ series: SeriesID) {
        guard series.index >= 0 && series.index < headers.count else { return }
        headers[series.index] = Header()
    }

    @usableFromInline
    mutating func allocate(chunk c: Int) {
        chunks[c] = ContiguousArray(repeating: Slot(offset: 0, value: 0), count: chunkSeries * capacity)
    }

    /// Moves a non-empty ring's base so that `time` fits, and returns its offset; nil when
    /// `time` is not to be kept (before the base of a full ring, or `maxSpanMillis` before the
    /// newest). A `time` that far after the oldest samples evicts them.
    @usableFromInline
    mutating func rebase(_ h: inout Header, for time: EpochMillis, chunk c: Int, start: Int) -> UInt32? {
        let count = Int(h.count), capacity = self.capacity
        @inline(__always) func at(_ i: Int, _ head: Int32) -> Int { start &+ Self.wrap(Int(head) &+ i, capacity) }
        let newest = h.base &+ EpochMillis(chunks[c][at(count - 1, h.head)].offset)
        let newBase: EpochMillis
        if time < h.base {
            // Older than every kept sample (the base is at most the oldest).
            guard count < capacity, Self.offset(newest, from: time) != nil else { return nil }
            newBase = time
        } else {
            // Newer than every kept sample by more than a slot's offset reaches from the base.
            var dropped = 0
            while dropped < count,
                  Self.offset(time, from: h.base &+ EpochMillis(chunks[c][at(dropped, h.head)].offset)) == nil {
                dropped += 1
            }
            h.head = Int32(truncatingIfNeeded: Self.wrap(Int(h.head) &+ dropped, capacity))
            h.count = Int32(truncatingIfNeeded: count - dropped)
            newBase = dropped == count ? time : h.base &+ EpochMillis(chunks[c][at(0, h.head)].offset)
        }
        let shift = h.base &- newBase   // positive when the base moves back
        for i in 0..<Int(h.count) {
            let slot = at(i, h.head)
            chunks[c][slot].offset = UInt32(truncatingIfNeeded: EpochMillis(chunks[c][slot].offset) &+ shift)
        }
        h.base = newBase
        return Self.offset(time, from: newBase)
    }
}

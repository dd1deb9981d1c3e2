/// The latest samples of every series, indexed by `SeriesID`: each series has a ring of
/// `capacity` samples kept in time order.
///
/// In-order readings append in O(1). A late reading that still falls inside its ring's span
/// is inserted in place (O(capacity) at worst); one older than a full ring is not kept here
/// (storage has it). A time already present is a duplicate and ignored.
///
/// The rings live side by side in chunks of about 1 MB, not in a buffer each: recording a
/// reading then touches its slot and an 8-byte header, and no buffer header of its own. With
/// a buffer per series, that header was a cache miss at every reading (the `Rules` benchmark
/// "Hot path", 1,000 series, readings inside their open buckets: 78 against 35 ns per reading,
/// the four tiers included). Chunks, rather than one buffer, let the rings grow with the
/// series without copying them all; a chunk is allocated at its first reading.
public struct SeriesRings: Sendable {
    /// Where a series' ring starts in its chunk (`head`) and how many samples it holds.
    @usableFromInline
    struct Header: Sendable {
        @usableFromInline var head: Int32 = 0
        @usableFromInline var count: Int32 = 0
        @usableFromInline init() {}
    }

    /// Samples per chunk (1 MB), unless one ring needs more.
    @usableFromInline static let chunkSamples = 65_536
    /// Series per chunk: `1 << chunkShift` (a shift, not a division, on the hot path).
    @usableFromInline let chunkShift: Int
    @usableFromInline var chunkSeries: Int { 1 << chunkShift }
    /// Empty until the first reading of one of its series.
    @usableFromInline var chunks: [ContiguousArray<Sample>] = []
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
        let (c, base) = place(series)
        return chunks[c][base &+ Self.wrap(Int(headers[series.index].head) &+ i, capacity)]
    }

    /// The chunk of `series` and where its ring starts in it.
    @inlinable
    func place(_ series: SeriesID) -> (chunk: Int, base: Int) {
        (series.index &>> chunkShift, (series.index & (chunkSeries &- 1)) &* capacity)
    }

    /// A ring position (`head + i`, below twice the capacity) within the ring.
    @inlinable
    static func wrap(_ p: Int, _ capacity: Int) -> Int { p >= capacity ? p &- capacity : p }

    /// Records a sample of `series` (which must have a ring: `reserve`); returns false when it
    /// was a duplicate or older than its whole full ring.
    @inlinable
    @discardableResult
    public mutating func record(_ s: Sample, of series: SeriesID) -> Bool {
        precondition(series.index >= 0 && series.index < headers.count, "series id not reserved")
        let (c, base) = place(series)
        if chunks[c].isEmpty { allocate(chunk: c) }
        let capacity = self.capacity
        return headers.withUnsafeMutableBufferPointer { headers in
            chunks[c].withUnsafeMutableBufferPointer { chunk in
                var h = headers[series.index]
                var count = Int(h.count)
                var head = Int(h.head)
                @inline(__always) func at(_ i: Int) -> Int { base &+ Self.wrap(head &+ i, capacity) }
                defer { headers[series.index] = h }
                if count > 0 && s.time <= chunk[at(count &- 1)].time {
                    // Late or a duplicate: find its place from the newest end (late data is
                    // usually recent).
                    if s.time == chunk[at(count &- 1)].time { return false }
                    var i = count &- 1
                    while i >= 0 && chunk[at(i)].time > s.time { i &-= 1 }
                    if i >= 0 && chunk[at(i)].time == s.time { return false }
                    if i < 0 && count == capacity { return false }   // older than everything kept
                    var position = i &+ 1
                    if count == capacity {   // the oldest makes room
                        head = Self.wrap(head &+ 1, capacity)
                        count &-= 1
                        position &-= 1
                    }
                    var j = count
                    while j > position {
                        chunk[at(j)] = chunk[at(j &- 1)]
                        j &-= 1
                    }
                    chunk[at(position)] = s
                    h.head = Int32(truncatingIfNeeded: head)
                    h.count = Int32(truncatingIfNeeded: count &+ 1)
                    return true
                }
                if count == capacity {
                    chunk[base &+ head] = s
                    h.head = Int32(truncatingIfNeeded: Self.wrap(head &+ 1, capacity))
                } else {
                    chunk[at(count)] = s
                    h.count = Int32(truncatingIfNeeded: count &+ 1)
                }
                return true
            }
        }
    }
}

extension SeriesRings {
    @usableFromInline
    mutating func allocate(chunk c: Int) {
        chunks[c] = ContiguousArray(repeating: Sample(time: 0, value: 0), count: chunkSeries * capacity)
    }
}

/// The latest samples of one series, kept in time order.
///
/// In-order readings append in O(1). A late reading that still falls inside the ring's
/// span is inserted in place (O(capacity) at worst); one older than the whole ring is
/// not kept here (storage has it). A time already present is a duplicate and ignored.
public struct SeriesRing: Sendable {
    @usableFromInline var ring: RingBuffer<Sample>

    public init(capacity: Int) { ring = RingBuffer(capacity: capacity) }

    public var count: Int { ring.count }
    public var capacity: Int { ring.capacity }
    /// The newest sample by reading time.
    public var latest: Sample? { ring.last }
    /// Samples oldest first.
    public var samples: [Sample] { ring.elements }

    /// Records a sample; returns false when it was a duplicate or older than the whole ring.
    @inlinable
    @discardableResult
    public mutating func record(_ s: Sample) -> Bool {
        guard let newest = ring.last, s.time <= newest.time else {
            ring.append(s)
            return true
        }
        if s.time == newest.time { return false }
        // Late: find the insertion point from the newest end (late data is usually recent).
        var i = ring.count - 1
        while i >= 0 && ring[i].time > s.time { i -= 1 }
        if i >= 0 && ring[i].time == s.time { return false }
        if i < 0 && ring.isFull { return false }   // older than everything kept
        ring.insert(s, at: i + 1)
        return true
    }
}

/// A fixed-capacity ring of the latest elements. Capacity is a power of two, so an index
/// wraps with `(i &+ n) & mask`; appending to a full ring overwrites the oldest element.
///
/// Storage is reserved once, at `init`: nothing on `append` allocates. Until the ring has
/// been full once, the live region ends exactly at `storage.count`, so a write there is an
/// append into reserved space; afterwards every slot is initialized and writes assign.
public struct RingBuffer<Element> {
    @usableFromInline var storage: ContiguousArray<Element>
    @usableFromInline var head: Int = 0      // physical index of the oldest element
    @usableFromInline var _count: Int = 0
    @usableFromInline let mask: Int

    /// Makes an empty ring; `capacity` is rounded up to a power of two (at least 1).
    public init(capacity: Int) {
        precondition(capacity > 0, "ring capacity must be positive")
        var c = 1
        while c < capacity { c <<= 1 }
        storage = []
        storage.reserveCapacity(c)
        mask = c - 1
    }

    @inlinable public var capacity: Int { mask + 1 }
    @inlinable public var count: Int { _count }
    @inlinable public var isEmpty: Bool { _count == 0 }
    @inlinable public var isFull: Bool { _count == mask + 1 }

    @inlinable
    mutating func setPhysical(_ p: Int, _ e: Element) {
        if p == storage.count { storage.append(e) } else { storage[p] = e }
    }

    /// The element at logical position `i` (0 = oldest).
    @inlinable
    public subscript(i: Int) -> Element {
        get {
            precondition(i >= 0 && i < _count, "ring index out of range")
            return storage[(head &+ i) & mask]
        }
        set {
            precondition(i >= 0 && i < _count, "ring index out of range")
            storage[(head &+ i) & mask] = newValue
        }
    }

    @inlinable public var first: Element? { _count == 0 ? nil : self[0] }
    @inlinable public var last: Element? { _count == 0 ? nil : self[_count - 1] }

    /// Appends at the newest end; when full, the oldest element is dropped and returned.
    @inlinable
    @discardableResult
    public mutating func append(_ element: Element) -> Element? {
        if _count == mask + 1 {
            let dropped = storage[head]
            storage[head] = element
            head = (head &+ 1) & mask
            return dropped
        }
        setPhysical((head &+ _count) & mask, element)
        _count += 1
        return nil
    }

    /// Removes and returns the oldest element.
    @inlinable
    @discardableResult
    public mutating func removeFirst() -> Element {
        precondition(_count > 0, "removeFirst on an empty ring")
        let e = storage[head]
        head = (head &+ 1) & mask
        _count -= 1
        return e
    }

    /// Inserts at logical position `i`, shifting newer elements one place toward the end.
    /// When full, the oldest element is dropped first (so `i` must be at least 1 then).
    @inlinable
    public mutating func insert(_ element: Element, at i: Int) {
        precondition(i >= 0 && i <= _count, "ring insert index out of range")
        var i = i
        if _count == mask + 1 {
            precondition(i > 0, "inserting before the oldest element of a full ring")
            removeFirst()
            i -= 1
        }
        var j = _count
        while j > i {
            setPhysical((head &+ j) & mask, storage[(head &+ j &- 1) & mask])
            j -= 1
        }
        setPhysical((head &+ i) & mask, element)
        _count += 1
    }

    /// The elements oldest first, as an array (for queries and tests, not the hot path).
    public var elements: [Element] { (0..<_count).map { self[$0] } }
}

extension RingBuffer: Sendable where Element: Sendable {}

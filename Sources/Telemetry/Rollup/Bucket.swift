/// The aggregate of the readings in one time bucket: count, sum, min, max, and the first
/// and last value by reading time (not arrival order).
///
/// `merge` is associative and commutative for count, min, max, first and last, so a bucket
/// built from readings in any order, in any number of pieces, is the same. `sum` is a
/// floating-point sum: equal to a recompute up to rounding in the last bits.
public struct Bucket: Sendable, Equatable {
    public var count: Int64
    public var sum: Double
    public var min: Double
    public var max: Double
    public var firstTime: EpochMillis
    public var first: Double
    public var lastTime: EpochMillis
    public var last: Double

    /// A bucket with no readings. (Computed, not a `static let`: a global would be read
    /// through its lazy initialiser's check on the hot path.)
    @inlinable
    public static var empty: Bucket {
        Bucket(count: 0, sum: 0, min: .infinity, max: -.infinity, firstTime: .max, first: 0, lastTime: .min, last: 0)
    }

    @inlinable
    public init(count: Int64, sum: Double, min: Double, max: Double,
                firstTime: EpochMillis, first: Double, lastTime: EpochMillis, last: Double) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.firstTime = firstTime
        self.first = first
        self.lastTime = lastTime
        self.last = last
    }

    /// A bucket holding one reading.
    @inlinable
    public init(time: EpochMillis, value: Double) {
        self.init(count: 1, sum: value, min: value, max: value,
                  firstTime: time, first: value, lastTime: time, last: value)
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable public var average: Double { sum / Double(count) }

    /// Adds one reading. O(1), no allocation.
    @inlinable
    public mutating func add(time: EpochMillis, value: Double) {
        count &+= 1
        sum += value
        if value < min { min = value }
        if value > max { max = value }
        if time < firstTime { firstTime = time; first = value }
        if time > lastTime { lastTime = time; last = value }
    }

    /// Folds another bucket of the same series and interval into this one.
    @inlinable
    public mutating func merge(_ o: Bucket) {
        guard o.count > 0 else { return }
        count &+= o.count
        sum += o.sum
        if o.min < min { min = o.min }
        if o.max > max { max = o.max }
        if o.firstTime < firstTime { firstTime = o.firstTime; first = o.first }
        if o.lastTime > lastTime { lastTime = o.lastTime; last = o.last }
    }
}

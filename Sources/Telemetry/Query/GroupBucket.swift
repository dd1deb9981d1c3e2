/// A group's bucket in a grouped query: the count, sum, minimum and maximum of every reading
/// of its series in the bucket (so `average` is over readings, not a mean of means).
public struct GroupBucket: Sendable, Equatable {
    public var count: Int64
    public var sum: Double
    public var min: Double
    public var max: Double

    public static let empty = GroupBucket(count: 0, sum: 0, min: .infinity, max: -.infinity)

    public init(count: Int64, sum: Double, min: Double, max: Double) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
    }

    public var average: Double { count == 0 ? .nan : sum / Double(count) }

    public mutating func merge(_ o: GroupBucket) {
        count += o.count
        sum += o.sum
        if o.min < min { min = o.min }
        if o.max > max { max = o.max }
    }
}

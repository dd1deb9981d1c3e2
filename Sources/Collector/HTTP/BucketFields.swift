import Telemetry

/// Which of a rollup bucket's values an answer carries (`fields=` of `/api/v1/rollups`), in
/// the API's order: a chart that draws the mean asks for `avg` alone, a fifth of the bytes.
struct BucketFields: OptionSet {
    let rawValue: UInt8
    static let count = BucketFields(rawValue: 1)
    static let sum = BucketFields(rawValue: 2)
    static let min = BucketFields(rawValue: 4)
    static let max = BucketFields(rawValue: 8)
    static let avg = BucketFields(rawValue: 16)
    static let first = BucketFields(rawValue: 32)
    static let last = BucketFields(rawValue: 64)
    static let all: BucketFields = [.count, .sum, .min, .max, .avg, .first, .last]

    /// Each field with its name, in the order answers carry them.
    static let ordered: [(name: StaticString, field: BucketFields)] =
        [("count", .count), ("sum", .sum), ("min", .min), ("max", .max), ("avg", .avg), ("first", .first), ("last", .last)]
    static let named: [String: BucketFields] =
        Dictionary(uniqueKeysWithValues: ordered.map { ("\($0.name)", $0.field) })

    /// The value of `field` (one of the seven) in `b`.
    static func value(_ field: BucketFields, of b: Bucket) -> Double {
        switch field {
        case .count: Double(b.count)
        case .sum: b.sum
        case .min: b.min
        case .max: b.max
        case .avg: b.average
        case .first: b.first
        default: b.last
        }
    }
}

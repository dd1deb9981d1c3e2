/// Why a message was rejected: a short `reason` code (a metric label and the quarantine's
/// `reason` column) and a `detail` that says where and what, for a person.
public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public let detail: String

    public init(_ reason: String, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason): \(detail)" }

    static func badJSON(_ d: String) -> Self { .init("bad_json", d) }
    static func noReadings(_ d: String) -> Self { .init("no_readings", d) }
    static func badName(_ d: String) -> Self { .init("bad_name", d) }
    static func badTime(_ d: String) -> Self { .init("bad_time", d) }
    static func badValue(_ d: String) -> Self { .init("bad_value", d) }
    static func timeOutOfRange(_ d: String) -> Self { .init("time_out_of_range", d) }
    static func tooLarge(_ d: String) -> Self { .init("too_large", d) }
}

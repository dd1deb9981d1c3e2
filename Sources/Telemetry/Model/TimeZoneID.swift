import Foundation

/// A validated IANA time zone (e.g. `Asia/Ho_Chi_Minh`): where day buckets start.
public struct TimeZoneID: Sendable, Equatable, CustomStringConvertible {
    public let zone: TimeZone
    public var description: String { zone.identifier }

    public init?(_ identifier: String) {
        guard let z = TimeZone(identifier: identifier) else { return nil }
        zone = z
    }

    public static let utc = TimeZoneID("UTC")!
}

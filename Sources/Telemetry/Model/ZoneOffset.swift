import Foundation

/// A time zone's offset from UTC at a time, asked of the zone once per stretch between its
/// transitions (the zone's rules are Foundation's; a lookup costs about a microsecond, a
/// reading's hour of day should not).
public struct ZoneOffset: Sendable {
    public let zone: TimeZone
    /// The offset `millis` holds for `from ..< until` (empty until the first lookup).
    private var from: EpochMillis = .max
    private var until: EpochMillis = .min
    private var millis: EpochMillis = 0

    public init(_ zone: TimeZone) { self.zone = zone }

    /// The offset at `t`, in milliseconds (local = UTC + offset).
    public mutating func at(_ t: EpochMillis) -> EpochMillis {
        if t < from || t >= until {
            let date = Date(timeIntervalSince1970: Double(t) / 1000)
            millis = EpochMillis(zone.secondsFromGMT(for: date)) * 1000
            from = t
            until = zone.nextDaylightSavingTimeTransition(after: date).map { EpochMillis(($0.timeIntervalSince1970 * 1000).rounded(.down)) } ?? .max
        }
        return millis
    }

    /// The local hour of day at `t`, 0-23.
    public mutating func hour(_ t: EpochMillis) -> Int {
        let local = t &+ at(t)
        let ms = ((local % 86_400_000) + 86_400_000) % 86_400_000
        return Int(ms / 3_600_000)
    }
}

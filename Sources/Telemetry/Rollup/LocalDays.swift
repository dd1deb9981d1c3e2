import Foundation

/// Finds the local-midnight day that contains a time, in one time zone. The last day found
/// is cached, so the hot path pays for a calendar calculation only when the day changes.
public struct LocalDays: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar
    @usableFromInline var cachedStart: EpochMillis = 0
    @usableFromInline var cachedEnd: EpochMillis = 0

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        calendar = cal
    }

    /// Start (inclusive) and end (exclusive) of the local day containing `t`.
    @inlinable
    public mutating func day(containing t: EpochMillis) -> (start: EpochMillis, end: EpochMillis) {
        if t >= cachedStart && t < cachedEnd { return (cachedStart, cachedEnd) }
        let r = compute(t)
        cachedStart = r.start
        cachedEnd = r.end
        return r
    }

    /// The same without touching the cache (for readers that are not `mutating`).
    public func lookup(_ t: EpochMillis) -> (start: EpochMillis, end: EpochMillis) {
        if t >= cachedStart && t < cachedEnd { return (cachedStart, cachedEnd) }
        return compute(t)
    }

    @usableFromInline
    func compute(_ t: EpochMillis) -> (start: EpochMillis, end: EpochMillis) {
        let date = Date(timeIntervalSince1970: Double(EpochMillis.floorDiv(t, 1000)))
        let start = calendar.startOfDay(for: date)
        let end = calendar.date(byAdding: .day, value: 1, to: start) ?? start.addingTimeInterval(86_400)
        return (EpochMillis(start.timeIntervalSince1970) * 1000, EpochMillis(end.timeIntervalSince1970) * 1000)
    }
}

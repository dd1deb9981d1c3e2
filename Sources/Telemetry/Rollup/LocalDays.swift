import Foundation

/// Finds the local-midnight day that contains a time, in one time zone. Calendar arithmetic
/// is slow (a microsecond or more), so the boundaries of a few weeks of days around the last
/// miss are kept: the hot path pays for the calendar only when time leaves that span.
public struct LocalDays: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar
    @usableFromInline var cachedStart: EpochMillis = 0
    @usableFromInline var cachedEnd: EpochMillis = 0
    /// Consecutive local midnights, increasing: day i is `[bounds[i], bounds[i + 1])`.
    private var bounds: [EpochMillis] = []

    /// Days kept on each side of a time that missed the table.
    static let span = 16

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
        let r = miss(t)
        cachedStart = r.start
        cachedEnd = r.end
        return r
    }

    /// The same without moving the cache (for readers that are not `mutating`): the table
    /// from the last `day(containing:)` still answers, else the calendar does.
    public func lookup(_ t: EpochMillis) -> (start: EpochMillis, end: EpochMillis) {
        if t >= cachedStart && t < cachedEnd { return (cachedStart, cachedEnd) }
        return inTable(t) ?? compute(t)
    }

    @usableFromInline
    mutating func miss(_ t: EpochMillis) -> (start: EpochMillis, end: EpochMillis) {
        if let r = inTable(t) { return r }
        bounds = table(around: t)
        return inTable(t) ?? compute(t)
    }

    private func inTable(_ t: EpochMillis) -> (start: EpochMillis, end: EpochMillis)? {
        guard let first = bounds.first, let last = bounds.last, t >= first, t < last else { return nil }
        var lo = 0, hi = bounds.count - 1   // bounds[lo] <= t < bounds[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if bounds[mid] <= t { lo = mid } else { hi = mid }
        }
        return (bounds[lo], bounds[hi])
    }

    private func table(around t: EpochMillis) -> [EpochMillis] {
        var out = [compute(t &- Int64(Self.span) * 86_400_000).start]
        out.reserveCapacity(2 * Self.span + 2)
        for _ in 0...(2 * Self.span) {
            let next = compute(out[out.count - 1]).end
            guard next > out[out.count - 1] else { break }
            out.append(next)
        }
        return out
    }

    func compute(_ t: EpochMillis) -> (start: EpochMillis, end: EpochMillis) {
        let date = Date(timeIntervalSince1970: Double(EpochMillis.floorDiv(t, 1000)))
        let start = calendar.startOfDay(for: date)
        let end = calendar.date(byAdding: .day, value: 1, to: start) ?? start.addingTimeInterval(86_400)
        return (EpochMillis(start.timeIntervalSince1970) * 1000, EpochMillis(end.timeIntervalSince1970) * 1000)
    }
}

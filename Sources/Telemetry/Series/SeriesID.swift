/// The dense integer id a stored series gets the first time it is seen. Ids index the
/// in-memory per-series state directly and key every SQLite table.
public struct SeriesID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int32

    @inlinable
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    @inlinable
    public var index: Int { Int(rawValue) }

    public static func < (a: SeriesID, b: SeriesID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "#\(rawValue)" }
}

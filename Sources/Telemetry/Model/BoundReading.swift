/// A reading whose series has an id: what a batch carries to storage.
public struct BoundReading: Sendable, Equatable {
    public var series: SeriesID
    public var time: EpochMillis
    public var value: Double

    @inlinable
    public init(series: SeriesID, time: EpochMillis, value: Double) {
        self.series = series
        self.time = time
        self.value = value
    }
}

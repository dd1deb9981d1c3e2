/// One decoded measurement before it is bound to a stored series: `sensor/metric` at `time`.
public struct Reading: Sendable, Equatable {
    public var series: SeriesName
    public var time: EpochMillis
    public var value: Double

    public init(series: SeriesName, time: EpochMillis, value: Double) {
        self.series = series
        self.time = time
        self.value = value
    }
}

/// A (time, value) pair of one series: what ring buffers and raw queries hold.
public struct Sample: Sendable, Equatable {
    public var time: EpochMillis
    public var value: Double

    @inlinable
    public init(time: EpochMillis, value: Double) {
        self.time = time
        self.value = value
    }
}

/// A correction of a derived series: its stored samples from `from` on are replaced by
/// `samples` (each at or after `from`). A late input makes the collector recompute the derived
/// values it affects; `TelemetryStore.commitCorrections` stores the result, rollups included.
public struct SeriesCorrection: Sendable, Equatable {
    public var series: SeriesName
    public var from: EpochMillis
    public var samples: [Sample]

    public init(series: SeriesName, from: EpochMillis, samples: [Sample]) {
        self.series = series
        self.from = from
        self.samples = samples
    }

    /// `later` applied after `self` (the same series), as one correction.
    public func followed(by later: SeriesCorrection) -> SeriesCorrection {
        guard later.from > from else { return later }
        return SeriesCorrection(series: series, from: from, samples: samples.filter { $0.time < later.from } + later.samples)
    }
}

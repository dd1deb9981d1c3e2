import Telemetry

/// What the stages after storage (alerts, derived series) read besides the readings handed
/// to them: a series' latest samples, and stored history to rebuild state from at first sight.
public protocol SampleHistory: AnyObject {
    /// The latest samples of a series, oldest first (committed readings, including some the
    /// stage may not have been handed yet).
    func recent(_ id: SeriesID) -> [Sample]
    /// Stored samples of `name` with `from <= t < to`, oldest first, except the readings the
    /// stage is being handed or will be: feeding both never counts a reading twice.
    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample]
    /// Every stored sample of series `id` (`name`) with `from <= t < to`, oldest first, those
    /// the stage is handed included: for a window the latest samples may not reach back over.
    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample]
    /// The newest stored sample of `name` before `before`.
    func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample?
    /// Every stored sample of `name` with `from <= t < to`, those handed to the stage now or
    /// later included: for derived series (what is stored of them, not what feeds them).
    func stored(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample]
    /// What a round is about to ask of `stored`: each series from a time on. A store that
    /// reads many series a statement reads them now and answers from that until
    /// `forgetPrefetched()`; the default reads nothing ahead.
    func prefetch(_ wanted: [SeriesName: EpochMillis]) throws
    /// Lets go of what `prefetch` read (the store may change after the round).
    func forgetPrefetched()
}

extension SampleHistory {
    public func stored(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try history(name, from: from, to: to)
    }

    public func prefetch(_ wanted: [SeriesName: EpochMillis]) throws {}

    public func forgetPrefetched() {}
}

import Logging
import Telemetry

/// The derived series recomputed from stored inputs, as a collector started at `horizon`
/// would compute them if every input arrived once, in time order, one commit per reading
/// time: what `collector verify --derived` compares the stored derived series with.
///
/// State before `horizon` (a dry spell's index, the last day's rain) is rebuilt from what is
/// stored before it, exactly as a restart rebuilds it; from `horizon` on only the inputs
/// handed to `recompute` count. The clock's tick is not replayed (it depends on when
/// readings arrived, not on their times), so what it alone produces is not recomputed.
public struct DerivedReplay {
    private let catalogue: Catalogue
    private let config: DerivedConfig
    private let timeZone: TimeZoneID
    private let logger: Logger

    public init(catalogue: Catalogue, config: DerivedConfig, timeZone: TimeZoneID, logger: Logger) {
        self.catalogue = catalogue
        self.config = config
        self.timeZone = timeZone
        self.logger = logger
    }

    /// Every derived reading computed from `inputs` (each input series' samples from
    /// `horizon` on, oldest first), by series, oldest first. `stored` is the store: only what
    /// it holds before `horizon` is read from it.
    public func recompute(_ inputs: [(name: SeriesName, samples: [Sample])], from horizon: EpochMillis,
                          stored: any SampleHistory) -> [SeriesName: [Sample]] {
        run(inputs, from: horizon, stored: stored).derived
    }

    /// `recompute`, and the derived series' state at its end (a late input's recompute takes
    /// its trackers; it keeps the scopes' maxima itself: `scopes` false).
    func run(_ inputs: [(name: SeriesName, samples: [Sample])], from horizon: EpochMillis,
             stored: any SampleHistory, scopes: Bool = true) -> (state: DerivedSeries, derived: [SeriesName: [Sample]]) {
        let derived = DerivedSeries(catalogue: catalogue, config: config, timeZone: timeZone, logger: logger)
        derived.computesScopes = scopes
        let history = ReplayHistory(stored: stored, horizon: horizon, seriesCount: inputs.count)
        // Every reading, in (time, series) order.
        var order: [(time: EpochMillis, series: Int32, index: Int32)] = []
        order.reserveCapacity(inputs.reduce(0) { $0 + $1.samples.count })
        for (s, input) in inputs.enumerated() {
            for i in input.samples.indices { order.append((input.samples[i].time, Int32(s), Int32(i))) }
        }
        order.sort { ($0.time, $0.series) < ($1.time, $1.series) }

        var out: [SeriesName: [Sample]] = [:]
        var i = 0
        while i < order.count {
            // One commit per reading time.
            let t = order[i].time
            while i < order.count && order[i].time == t {
                let (_, s, k) = order[i]
                let input = inputs[Int(s)]
                let sample = input.samples[Int(k)]
                history.fed(sample, of: Int(s))
                derived.observe(input.name, catalogue.sensor(input.name.sensor),
                                BoundReading(series: SeriesID(s), time: sample.time, value: sample.value), history: history, now: t)
                i += 1
            }
            derived.finishBatch()
            for r in derived.take() { out[r.series, default: []].append(Sample(time: r.time, value: r.value)) }
        }
        for (name, samples) in out where !samples.isSorted { out[name] = samples.sorted { $0.time < $1.time } }
        return (derived, out)
    }
}

/// What `DerivedSeries` reads during a replay: the inputs fed so far (`recent`), and what was
/// stored before the horizon (everything from it on is fed).
private final class ReplayHistory: SampleHistory {
    private let stored: any SampleHistory
    private let horizon: EpochMillis
    private var fedSamples: [[Sample]]
    /// As many samples as the collector's in-memory ring of a series holds.
    private static let ringCapacity = 128

    init(stored: any SampleHistory, horizon: EpochMillis, seriesCount: Int) {
        self.stored = stored
        self.horizon = horizon
        fedSamples = Array(repeating: [], count: seriesCount)
    }

    func fed(_ s: Sample, of series: Int) { fedSamples[series].append(s) }

    func recent(_ id: SeriesID) -> [Sample] {
        guard id.index < fedSamples.count else { return [] }
        return Array(fedSamples[id.index].suffix(Self.ringCapacity))
    }

    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        let before = from < horizon ? try stored.window(name, id, from: from, to: min(to, horizon)) : []
        guard id.index < fedSamples.count else { return before }
        // Fed in time order: the range by binary search.
        let fed = fedSamples[id.index]
        return before + fed[fed.firstIndex(notBefore: from) { $0.time }..<fed.firstIndex(notBefore: to) { $0.time }]
    }

    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        from < horizon ? try stored.history(name, from: from, to: min(to, horizon)) : []
    }

    func lastStored(_ name: SeriesName, before t: EpochMillis) throws -> Sample? {
        try stored.lastStored(name, before: min(t, horizon))
    }

    func stored(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        from < horizon ? try stored.stored(name, from: from, to: min(to, horizon)) : []
    }
}

private extension Array where Element == Sample {
    var isSorted: Bool { zip(self, dropFirst()).allSatisfy { $0.time <= $1.time } }
}

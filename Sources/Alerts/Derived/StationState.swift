import Telemetry

/// One station's trackers in `DerivedSeries` (`stations`), found by index: a series' route
/// (`InputRoute.station`) holds it, so a reading updates its station in place without
/// hashing the station's name (a dictionary per tracker, keyed by name, cost a third of the
/// alert worker's time in a drain). Catalogued stations come first, in catalogue order.
struct StationState {
    let id: String
    var fire: FireDangerTracker?
    /// The day and newest reading time of this commit's fire-danger inputs (`finishBatch`
    /// derives the index at that time).
    var fireTouched: (day: EpochMillis, time: EpochMillis)?
    /// The time and day of the last `fire_danger_p` derived (kept strictly increasing).
    var lastFire: (time: EpochMillis, day: EpochMillis)?
    var rain24h: RollingSum?
    var rainyDays: RainyDays?
    /// Wall-clock arrival of the gauge's newest reading.
    var rainArrival: EpochMillis?
    /// The earlier-rainy-day count the tick last evaluated the gauge's level with.
    var tickedDays: Int?
    /// The station's flood-risk table and susceptibility (resolved once).
    var floodRisk: (table: FloodRiskTable, susceptibility: Susceptibility)?
    /// Its unit and zone scope names (built once).
    var scopes: [String]?
    var air: AirQualityTracker?
    var freeFlow: FreeFlowEstimator?
    /// Wall-clock arrival of a meter's newest reading: a gateway replaying a backlog is not
    /// an outage, whatever the readings' own times.
    var meterArrival: EpochMillis?
    /// A meter's transformer's index in `DerivedSeries.transformerStates` (-1: none;
    /// `notLookedUp` until its first reading).
    var transformer: Int32 = notLookedUp
    static let notLookedUp: Int32 = -2
    /// The station's derived series made so far (a few), each with its last stored reading
    /// (`DerivedSeries.derive`): its name validated once, found by its metric.
    var outputs: [DerivedOutput] = []
    /// Per scope kind, the station's slot in that kind's `ScopeMaxima` (-1: not given yet) and
    /// the indices of its scopes in `DerivedSeries.scopeStates` (found at its first value).
    var memberSlot = PerScopeKind<Int32>(-1)
    var scopeIDs = PerScopeKind<[Int32]?>(nil)

    init(id: String) { self.id = id }

    /// The index of `metric`'s output in `outputs`, added the first time (nil: not a valid
    /// series name).
    mutating func output(_ metric: String) -> Int? {
        if let o = outputs.firstIndex(where: { $0.metric == metric }) { return o }
        guard let name = try? SeriesName(sensor: id, metric: metric) else { return nil }
        outputs.append(DerivedOutput(metric: metric, name: name))
        return outputs.count - 1
    }
}

/// One derived series of a station, and its last stored reading.
struct DerivedOutput {
    let metric: String
    let name: SeriesName
    var last: Sample?
}

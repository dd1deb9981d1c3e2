import Telemetry

/// What a series' readings feed in `DerivedSeries.observe`, worked out once per series from
/// its metric and its sensor's catalogue entry (then no reading compares metric names or
/// hashes one to know).
struct InputRoute: Sendable {
    /// The computation a reading goes to, by its metric.
    enum Input: UInt8, Sendable { case none, rain, level, air, volume, kwh, lastGasp, speed }

    var input: Input = .none
    /// A forest station's `temp_c`, `rh_pct` or `rain_mm`: a fire-danger input.
    var fire = false
    /// A meter's reading other than `last_gasp`: the meter is alive.
    var meterAlive = false
    /// A `rain_mm` reading: its gauge's arrival time is kept.
    var rainArrival = false
    /// The families whose late inputs are tracked (`DerivedFamily.fed`).
    var fed = FamilySet()
    /// Whether the route has been worked out (a route of an id not seen yet has not).
    var known = false
    /// The station's index in `DerivedSeries.stations`.
    var station: Int32 = -1

    init() {}

    init(metric: String, entry: SensorEntry) {
        known = true
        meterAlive = entry.kind == .meter && metric != "last_gasp"
        rainArrival = metric == "rain_mm"
        fed = DerivedFamily.fed(by: metric, at: entry)
        fire = FireDangerStage.inputs.contains(metric) && entry.kind == .forest
        switch metric {
        case "rain_mm": input = .rain
        case "level_m": input = entry.alarmLevelsM != nil ? .level : .none
        case "pm25_ugm3", "pm10_ugm3": input = .air
        case "volume_m3": input = entry.kind == .water ? .volume : .none
        case "kwh": input = entry.kind == .meter ? .kwh : .none
        case "last_gasp": input = entry.kind == .meter ? .lastGasp : .none
        case "speed_kmh": input = entry.kind == .traffic ? .speed : .none
        default: input = .none
        }
    }

    /// Feeds nothing at all.
    var isIdle: Bool { input == .none && !fire && !meterAlive && !rainArrival && fed.isEmpty }
}

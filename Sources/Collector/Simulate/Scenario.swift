import Telemetry

/// What `collector simulate --scenario` plays, over the run's simulated window [start, end),
/// and what the collector should raise (`expectations`), so the demo and tests can check it.
struct Scenario: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case normal, fireWeather = "fire-weather", storm, outage, energyTheft = "energy-theft", congestion
        case linkLoss = "link-loss", sensorDropout = "sensor-dropout"
        case pipeBurst = "pipe-burst", slowLeak = "slow-leak"
    }

    /// How the scenario changes one sensor at one time.
    struct Effect: Sendable {
        var hotDry = false
        /// Storm: rain per reading, and hours since the downpour began (for rivers).
        var rainPerReadingMM: Double?
        var stormHours: Double?
        var silent = false
        var lossShare = 0.05
        var congested = false
        /// link-loss: held back by the gateway, published at the end out of order.
        var buffered = false
        /// Water: the DMA's leakage in m3/h beyond its background leak (a burst, a growing
        /// leak), and the pressure its loggers lose.
        var leakM3h = 0.0
        var pressureDropBar = 0.0
    }

    let kind: Kind
    let start: EpochMillis
    let end: EpochMillis
    /// The place it plays in (fire-weather, storm, congestion, link-loss; sensor-dropout: a
    /// comma-separated list): a unit or a group of a level, such as a former district; or the
    /// transformer (outage, energy-theft) or DMA (pipe-burst, slow-leak); defaults per kind.
    let target: String
    /// The units the target place stands for (itself, or a group's units).
    private let targetUnits: Set<String>
    /// The province's natural-disaster region (Decision 18/2021), for what a storm raises.
    var region = 1

    init(kind: Kind, start: EpochMillis, end: EpochMillis, target: String?, catalogue: Catalogue = Catalogue()) {
        self.kind = kind
        self.start = start
        self.end = end
        let target = target ?? Self.defaultTarget(kind)
        self.target = target
        var units: Set<String> = []
        for place in target.split(separator: ",").map(String.init) {
            units.insert(place)
            for level in catalogue.levels { units.formUnion(catalogue.units(in: place, at: level.id)) }
        }
        targetUnits = units
    }

    /// Whether a sensor stands in the target place.
    private func inTarget(_ s: SensorEntry) -> Bool { targetUnits.contains(s.unit) }

    static func defaultTarget(_ kind: Kind) -> String {
        switch kind {
        case .fireWeather: "muong-te"
        case .storm: "sin-ho"
        case .outage: "lc-tr001"
        case .energyTheft: "lc-tr002"
        case .congestion: "lai-chau-city"
        case .linkLoss: "phong-tho"
        case .sensorDropout: "muong-te,sin-ho,nam-nhun,phong-tho"
        case .pipeBurst: "lc-dma01"
        case .slowLeak: "lc-dma02"
        case .normal: ""
        }
    }

    static let dropoutMillis: EpochMillis = 2 * 3_600_000
    static let linkLossMillis: EpochMillis = 6 * 3_600_000

    func effect(on s: SensorEntry, at t: EpochMillis) -> Effect {
        var e = Effect()
        switch kind {
        case .normal:
            break
        case .fireWeather:
            e.hotDry = s.kind == .forest && inTarget(s)
        case .storm:
            // The last five days: four days of steady rain, then a downpour over the last 18
            // hours. Four days, so that the three local days before the one holding the 24 h
            // window's start are rainy whatever hour the storm ends: more than 2 earlier
            // rainy days (Decision 18/2021, Article 46) when the 24 h sum passes 200 mm.
            guard inTarget(s), s.kind == .hydro || s.kind == .forest else { break }
            let downpour = end - 18 * 3_600_000
            if t >= downpour {
                e.rainPerReadingMM = 12.0 * Double(s.intervalMillis) / 3_600_000   // 12 mm/h
                e.stormHours = Double(t - downpour) / 3_600_000
            } else if t >= end - 5 * 86_400_000 {
                e.rainPerReadingMM = 1.5 * Double(s.intervalMillis) / 3_600_000    // 36 mm a day
            }
        case .outage:
            e.silent = s.kind == .meter && s.zone == target && t >= start + (end - start) / 2
        case .energyTheft:
            if s.kind == .meter && s.zone == target { e.lossShare = 0.15 }
        case .congestion:
            e.congested = s.kind == .traffic && inTarget(s) && t >= end - 40 * 60_000
        case .linkLoss:
            e.buffered = inTarget(s) && t >= end - Self.linkLossMillis
        case .sensorDropout:
            e.silent = s.kind == .forest && inTarget(s)
                && t >= end - Self.dropoutMillis
        case .pipeBurst:
            // The last 6 hours: a main bursts, the inflow jumps and the pressure falls.
            guard s.kind == .water && s.zone == target && t >= end - 6 * 3_600_000 else { break }
            e.leakM3h = 40
            e.pressureDropBar = 1.8
        case .slowLeak:
            // A leak that starts ten days before the end and grows by 1.5 m3/h a day: night
            // flow above its seven-night baseline from its first night on.
            guard s.kind == .water && s.zone == target else { break }
            let days = Double(t - (end - 10 * 86_400_000)) / 86_400_000
            if days > 0 { e.leakM3h = 1.5 * days.rounded(.down) + 1.5 }
        }
        return e
    }

    /// What the collector should raise (with the shipped rules), in words.
    var expectations: [String] {
        switch kind {
        case .normal:
            return ["no alert beyond the shipped rules' usual ones (a quiet province)"]
        case .fireWeather:
            return ["fire_danger_level rises day by day at the forest stations of \(target) (about 2,000 of P a dry hot day)",
                    "forest-fire-danger for them once the level reaches IV (P > 5000: the third dry day; warning), critical at V (P > 10000)",
                    "unit.<id>/fire_danger_level of each of its units at the same level (the maximum)"]
        case .storm:
            let levels = region == 1
                ? ["flood_risk_level by Decision 18/2021 Article 46 (region 1), after more than 2 earlier rainy days, by each gauge's area susceptibility:",
                   "  from 100 mm: low and medium 1, high 2, very high 3; over 200 mm: low 1, medium 2, high and very high 3;"]
                : ["flood_risk_level by Decision 18/2021 Article 46 (region \(region)): only its level-1 cases are built in",
                   "  (derived.flood_risk configures levels 2 and 3);"]
            return ["rain_24h_mm above 100, then above 200 (the last 18 h at 12 mm/h), at the rain gauges of \(target): rain-very-heavy-24h (warning)"]
                + levels + ["  never falling as the storm worsens",
                    "flood-risk for each gauge and for zone.<id> and unit.<id> (their maximum), by level: 1 info, 2 warning, 3 critical",
                    "rivers rising 0.6 m/h: river-rising-fast, then river-alarm-level-2 and -3"]
        case .outage:
            return ["every meter of transformer \(target) silent from the middle of the run:",
                    "transformer.\(target)/meters_silent_pct = 100 and one transformer-outage (critical) alert, not one per meter"]
        case .energyTheft:
            return ["transformer.\(target)/energy_loss_pct = 15 for every complete hour (5 elsewhere): energy-loss-high (warning)"]
        case .congestion:
            return ["speeds at 30 % of free flow at \(target)'s junctions for the last 40 minutes: congestion 0.7",
                    "junction-congested (info) and traffic-slow (info) after their `for` of 10 minutes (wall clock)"]
        case .linkLoss:
            return ["the \(target) gateway holds back its last 6 hours, then sends them shuffled with 5 % duplicates",
                    "no alert from it; every reading stored exactly once (compare the counts printed at the end)"]
        case .pipeBurst:
            return ["DMA \(target): inflow up 40 m3/h and pressure down 1.8 bar for the last 6 hours",
                    "water-pressure-drop (critical) and water-pressure-low (warning) at its pressure loggers;",
                    "dma.\(target)/nrw_pct above 15 for the day the burst falls in once that day is complete (after local midnight): water-loss-above-target"]
        case .slowLeak:
            return ["DMA \(target): a leak growing by 1.5 m3/h a day over the last 10 days (play at least 18 days)",
                    "dma.\(target)/min_night_flow_m3h rising night after night; night_flow_rising_nights reaching 3 and more:",
                    "water-night-flow-rising (warning); nrw_pct above 15 once the leak outgrows the target: water-loss-above-target"]
        case .sensorDropout:
            return ["forest stations of \(target) silent for the last 2 hours",
                    "forest_monitored_pct for the province below 70: forest-coverage-below-target (warning) after its `for` (1h, wall clock)",
                    "forest-station-silent (warning) for each of them"]
        }
    }
}

import Telemetry

/// One coverage indicator for one scope (the province, a unit, or a group of a declared
/// level), as the README's `GET /api/v1/coverage` shows it.
public struct CoverageIndicator: Sendable, Equatable {
    public var indicator: String
    /// `province`, or a unit or group id (unique across the catalogue's places).
    public var scope: String
    public var valuePct: Double
    public var targetPct: Double?
    public var targetYear: Int?
    public var numerator: Double
    public var denominator: Double
    /// The target is a ceiling (water loss at most 15 %), not a floor.
    public var targetIsMaximum = false

    /// The series it is stored as: `coverage.<scope>/<indicator>`.
    public var series: SeriesName? { try? SeriesName(sensor: "coverage.\(scope)", metric: indicator) }
}

/// A plan target: `pct` by the end of `year`.
public struct CoverageTarget: Sendable, Equatable {
    public var year: Int
    public var pct: Double
    public init(year: Int, pct: Double) {
        self.year = year
        self.pct = pct
    }
}

/// Computes what the plan counts (docs/domain.md, "Coverage indicators"). Healthy = a reading
/// within 3 x the sensor's expected interval.
///
/// - `forest_monitored_pct`: area of forest zones with a healthy forest sensor / all forest area.
/// - `meters_reporting_pct`: healthy meters / registered meters.
/// - `env_communes_pct`: communes with a healthy environment station / communes in the catalogue.
/// - `junctions_monitored_pct`: junctions (traffic sensors' `zone`) with a healthy counter / all junctions.
/// - `water_loss_pct`: water lost / water into the DMAs, over each DMA's latest complete day
///   (volume-weighted), against Decision 2147's ceiling (25 % by 2015, 18 % by 2020, 15 % by 2025);
/// - `dma_at_target_pct`: DMAs whose latest day's loss is at or under that ceiling / DMAs with a figure.
public enum CoverageCalculator {
    /// The targets the province's plan sets, used unless the configuration says otherwise.
    public static let defaultTargets: [String: [CoverageTarget]] = [
        "forest_monitored_pct": [CoverageTarget(year: 2025, pct: 70), CoverageTarget(year: 2030, pct: 100)],
        "water_loss_pct": waterLossCeilings,
    ]
    /// Decision 2147/QĐ-TTg: the average water loss at most 25 % by 2015, 18 % by 2020, 15 % by 2025.
    public static let waterLossCeilings = [CoverageTarget(year: 2015, pct: 25), CoverageTarget(year: 2020, pct: 18),
                                           CoverageTarget(year: 2025, pct: 15)]
    /// Indicators whose target is a ceiling.
    public static let ceilings: Set<String> = ["water_loss_pct"]

    /// A DMA's latest complete day: its inflow and its loss (nil: no figure, a meter fault).
    public struct WaterDay: Sendable, Equatable {
        public var dma: String
        /// The unit of the DMA's inflow meter.
        public var unit: String
        public var inflowM3: Double
        public var nrwPct: Double?
        public init(dma: String, unit: String, inflowM3: Double, nrwPct: Double?) {
            self.dma = dma
            self.unit = unit
            self.inflowM3 = inflowM3
            self.nrwPct = nrwPct
        }
    }

    /// The target in force in `year`: the first one due that year or later, else the last.
    public static func target(_ ts: [CoverageTarget]?, year: Int) -> CoverageTarget? {
        ts.flatMap { ts in ts.sorted { $0.year < $1.year }.first { $0.year >= year } ?? ts.max { $0.year < $1.year } }
    }

    /// The indicators for the province and each place at `level` (`unit`, or a level the
    /// catalogue declares: a unit counts towards its group there).
    public static func compute(_ catalogue: Catalogue, lastSeen: [String: EpochMillis], now: EpochMillis, year: Int,
                               targets: [String: [CoverageTarget]] = defaultTargets, water: [WaterDay] = [],
                               level: String = Catalogue.unitLevel) -> [CoverageIndicator] {
        func healthy(_ s: SensorEntry) -> Bool {
            guard let t = lastSeen[s.id] else { return false }
            return now - t <= 3 * s.intervalMillis
        }
        var out: [CoverageIndicator] = []
        func emit(_ name: String, _ parts: [(unit: String, num: Double, den: Double)]) {
            guard !parts.isEmpty else { return }
            let target = Self.target(targets[name], year: year)
            var byPlace: [String: (Double, Double)] = [:]
            for p in parts {
                guard let place = catalogue.place(p.unit, at: level) else { continue }   // a unit in no group of the level
                byPlace[place, default: (0, 0)].0 += p.num
                byPlace[place, default: (0, 0)].1 += p.den
            }
            let total = parts.reduce((0.0, 0.0)) { ($0.0 + $1.num, $0.1 + $1.den) }
            for (scope, nd) in [("province", total)] + byPlace.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) where nd.1 > 0 {
                // What people read, at the precision it is measured with: areas to 0.01 ha
                // (sums of catalogue areas carry float noise, 172858.8999999999), percentages
                // to 0.01 %.
                out.append(CoverageIndicator(indicator: name, scope: scope, valuePct: Self.hundredths(nd.0 / nd.1 * 100),
                                             targetPct: target?.pct, targetYear: target?.year,
                                             numerator: Self.hundredths(nd.0), denominator: Self.hundredths(nd.1),
                                             targetIsMaximum: Self.ceilings.contains(name)))
            }
        }
        let healthyForestZones = Set(catalogue.sensors.filter { $0.kind == .forest && healthy($0) }.compactMap(\.zone))
        emit("forest_monitored_pct", catalogue.zones.filter { $0.kind == .forest }.map {
            ($0.unit, healthyForestZones.contains($0.id) ? $0.areaHa : 0, $0.areaHa)
        })
        emit("meters_reporting_pct", catalogue.sensors.filter { $0.kind == .meter }.map { ($0.unit, healthy($0) ? 1 : 0, 1) })
        var communes: [String: (unit: String, ok: Bool)] = [:]
        for z in catalogue.zones { if let c = z.commune, communes[c] == nil { communes[c] = (z.unit, false) } }
        for s in catalogue.sensors where s.kind == .environment && healthy(s) {
            if let c = s.zone.flatMap({ catalogue.zone($0)?.commune }) { communes[c]?.ok = true }
        }
        if catalogue.sensors.contains(where: { $0.kind == .environment }) {
            emit("env_communes_pct", communes.values.map { ($0.unit, $0.ok ? 1 : 0, 1) })
        }
        var junctions: [String: (unit: String, ok: Bool)] = [:]
        for s in catalogue.sensors where s.kind == .traffic {
            let j = s.zone ?? s.id
            junctions[j] = (s.unit, (junctions[j]?.ok ?? false) || healthy(s))
        }
        emit("junctions_monitored_pct", junctions.values.map { ($0.unit, $0.ok ? 1 : 0, 1) })
        let figures = water.compactMap { w in w.nrwPct.map { (w.unit, $0, w.inflowM3) } }
        emit("water_loss_pct", figures.map { ($0.0, $0.1 / 100 * $0.2, $0.2) })
        let ceiling = Self.target(targets["water_loss_pct"] ?? waterLossCeilings, year: year)?.pct ?? 15
        emit("dma_at_target_pct", figures.map { ($0.0, $0.1 <= ceiling ? 1 : 0, 1) })
        return out
    }

    /// `x` rounded to two decimals, half away from zero (its shortest decimal form has at most two).
    static func hundredths(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}

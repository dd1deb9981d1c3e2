import Foundation
import Logging
import Telemetry

/// Which index is derived from which readings (docs/domain.md): fed the committed readings
/// one by one (the Collector's alert worker calls it on its own thread), it hands back derived
/// readings for the caller to commit like any other series:
/// - forest stations: `fire_danger_p`, `fire_danger_level` (also per zone and unit, the maximum);
/// - stations with `rain_mm`: `rain_24h_mm`, `flood_risk_level` (also per zone and unit);
/// - river stations: `water_alarm_level`, `level_rise_m_h`;
/// - air stations: `aqi` (hourly, NowCast) and `aqi_24h`, for each complete hour, at its start;
/// - transformers (`transformer.<id>`): `energy_loss_pct` and `feeder_meter_fault` per hour, `meters_silent_pct`;
/// - traffic sensors: `congestion`, `travel_time_index` (also `junction.<id>/congestion`, the maximum);
/// - water DMAs (`dma.<id>`): `nrw_pct` and `inflow_meter_fault` per day, `min_night_flow_m3h`,
///   `night_flow_rise_pct` and `night_flow_rising_nights` per night.
///
/// Trackers are rebuilt from storage the first time a station is seen after a start, so a
/// restart neither resets a dry spell nor forgets the rain of the last day. A station's
/// trackers live in `stations` (`StationState`), found by index from its series' routes; a
/// tracker is taken out while it is updated (`take()`, then stored back), so the update is in
/// place, not a copy of its buffers.
public final class DerivedSeries {
    let catalogue: Catalogue
    let config: DerivedConfig
    let timeZone: TimeZoneID
    let logger: Logger

    /// Each station's trackers (`station(_:)`): the catalogue's stations first, in its order,
    /// then any other station seen (`extraStations`).
    var stations: ContiguousArray<StationState>
    private var extraStations: [String: Int] = [:]
    /// The stations whose fire-danger inputs this commit touched (`StationState.fireTouched`),
    /// in the order first touched.
    private var fireTouchedList: [Int] = []
    /// The first tick's time since the start, and the catalogued gauges whose stored state
    /// the tick has looked at since (`tickRain`).
    private var firstTick: EpochMillis?
    private var rainRebuilt: Set<String> = []
    /// Each transformer's meters and energy tracker, in id order (a meter's station finds
    /// its transformer's index once: `StationState.transformer`).
    private var transformerStates: [TransformerState]
    private let transformerIndex: [String: Int]
    var water: [String: WaterBalanceTracker] = [:]
    var waterLatest: [String: EpochMillis] = [:]
    /// Each DMA's latest complete day, for the water-loss indicators.
    public internal(set) var waterDays: [String: CoverageCalculator.WaterDay] = [:]
    var lastGasp: [String: EpochMillis] = [:]
    /// When each transformer was first watched (a meter of it heard from).
    private var watchedSince: [String: EpochMillis] = [:]

    /// transformer id -> its meters; junction id -> its traffic sensors.
    let transformers: [String: (feeder: EnergyLossTracker.Meter, customers: [EnergyLossTracker.Meter])]
    /// DMA id -> its inflow and customer meters.
    let dmas: [String: (inflow: WaterBalanceTracker.Meter, customers: [WaterBalanceTracker.Meter])]
    let junctions: [String: [String]]
    let scopeEntries: [String: SensorEntry]

    /// Zone and unit scopes -> their forest station ids.
    let forestScopeMembers: [String: [String]]
    /// Zone and unit scopes -> every station in them (a flood level's maximum looks at those
    /// that have one).
    let stationScopeMembers: [String: [String]]
    /// Zone, unit and junction maxima (`DerivedSeries+Scopes`): their members' recent values,
    /// the scope times to compute at the end of the commit, each scope's newest time computed,
    /// and the scopes a late member value made dirty, from when.
    var scopeValues: PerScopeKind<ScopeMaxima> = {
        var v = PerScopeKind(ScopeMaxima(window: 0))
        for kind in ScopeKind.allCases { v[kind] = ScopeMaxima(window: kind.window) }
        return v
    }()
    var lateScopes: [ScopeRef: (from: EpochMillis, job: Int64?, generation: Int)] = [:]
    /// Each scope's state (`scopeID(_:)`): its series, newest time computed, times noted this
    /// commit and active members; and the scopes with times noted, in the order first noted.
    var scopeStates: [ScopeState] = []
    var scopeIndex: [ScopeRef: Int] = [:]
    var touchedScopes: [Int] = []
    /// Whether scope maxima, DMAs' water balances and transformers' figures (energy loss,
    /// silent meters) are computed (not in a family's recompute, which keeps its own; not by a
    /// partition over a shared store, where the province's holder computes them:
    /// `recomputeScopes`, `tickTransformers`).
    public var computesScopes = true
    /// The province holder's copy of the scope members' recent values (`recomputeScopes`).
    var provinceValues: [ScopeKind: ScopeMaxima] = [:]
    /// The province holder's copy of each DMA's recent meter readings (`recomputeWater`).
    var provinceWater: [String: MeterReadings] = [:]
    /// ... and of each transformer's (`recomputeEnergy`).
    var provinceEnergy: [String: MeterReadings] = [:]
    /// Whether the province holder has read the DMAs' newest stored days (`seedWaterDays`).
    var waterDaysSeeded = false
    /// Whether the province holder has read the transformer meters' recent gasps (`gaspsToSeed`).
    var gaspsSeeded = false
    /// The storage view of the current commit (from its first `observe` to `finishBatch`),
    /// `tick` or recompute: scope members' values are loaded through it. Let go at their end
    /// (the alert worker that passes itself owns this; a weak reference would cost every
    /// reading an atomic operation).
    var history: (any SampleHistory)?

    var pending: [Reading] = []
    /// What each series' readings feed, by series id (`route(of:)`).
    private var routes: ContiguousArray<InputRoute> = []
    /// Late inputs (`DerivedSeries+Late`): each family's newest input time seen; the families
    /// waiting to be recomputed, from when, the job that made each so, and the `take`
    /// generation that holds everything it derived before (it derives nothing while it waits);
    /// corrections to hand over; whether the journal is being fed again.
    var newestInput: [FamilyKey: EpochMillis] = [:]
    var dirty: [FamilyKey: (from: EpochMillis, job: Int64?, generation: Int)] = [:]
    var refeeding = false
    /// The job (journal row) whose readings are being observed, set by the caller.
    public var currentJob: Int64?
    /// How many times `take` was called: derived readings made now go with take `generation + 1`.
    public internal(set) var generation = 0
    var corrections: [SeriesCorrection] = []
    /// The last stored reading of each derived series of a scope, transformer or DMA (a
    /// catalogued station's are in its state: `lastStoredSample`).
    var lastStored: [SeriesName: Sample] = [:]
    /// Levels and indices (`derive(..., level: true)`) are stored when they change, and at
    /// least this often in reading time, so a steady level still fills every 15m bucket.
    static let levelHeartbeat: EpochMillis = 15 * 60_000
    /// The metrics any derived series is computed from.
    public static let inputMetrics = Set(["rain_mm", "level_m", "pm25_ugm3", "pm10_ugm3", "kwh", "last_gasp", "speed_kmh", "volume_m3"])
        .union(FireDangerStage.inputs)

    /// Whether readings of `metric` from a sensor catalogued as `entry` (nil: not catalogued)
    /// can derive anything (`observe`): the journal keeps an import's readings of such series
    /// until a collector has derived from them. Errs on the side of yes.
    public static func feedsDerived(metric: String, entry: SensorEntry?) -> Bool {
        guard let entry else { return false }
        if entry.kind == .meter { return true }        // any reading tells that a meter is alive
        if entry.kind == .water { return metric == "volume_m3" }
        if FireDangerStage.inputs.contains(metric) && entry.kind == .forest { return true }
        return ["rain_mm", "level_m", "pm25_ugm3", "pm10_ugm3", "speed_kmh"].contains(metric)
    }

    public init(catalogue: Catalogue, config: DerivedConfig, timeZone: TimeZoneID, logger: Logger) {
        self.catalogue = catalogue
        self.config = config
        self.timeZone = timeZone
        self.logger = logger
        var t: [String: (feeder: EnergyLossTracker.Meter, customers: [EnergyLossTracker.Meter])] = [:]
        var entries: [String: SensorEntry] = [:]
        let meters = Dictionary(grouping: catalogue.sensors.filter { $0.kind == .meter && $0.zone != nil }, by: { $0.zone! })
        for (tr, ms) in meters {
            guard let f = ms.first(where: { $0.role == .feeder }) else { continue }
            t[tr] = (EnergyLossTracker.Meter(id: f.id, intervalMillis: f.intervalMillis),
                     ms.filter { $0.role != .feeder }.map { EnergyLossTracker.Meter(id: $0.id, intervalMillis: $0.intervalMillis) })
            entries["transformer.\(tr)"] = SensorEntry(id: "transformer.\(tr)", kind: .meter, unit: f.unit, zone: tr,
                                                       intervalMillis: f.intervalMillis)
        }
        var d: [String: (inflow: WaterBalanceTracker.Meter, customers: [WaterBalanceTracker.Meter])] = [:]
        let water = Dictionary(grouping: catalogue.sensors.filter { $0.kind == .water && $0.zone != nil }, by: { $0.zone! })
        for (dma, ms) in water {
            guard let inflow = ms.first(where: { $0.role == .inflow }) else { continue }
            d[dma] = (WaterBalanceTracker.Meter(id: inflow.id, intervalMillis: inflow.intervalMillis),
                      ms.filter { $0.role == .customer }.map { WaterBalanceTracker.Meter(id: $0.id, intervalMillis: $0.intervalMillis) })
            entries["dma.\(dma)"] = SensorEntry(id: "dma.\(dma)", kind: .water, unit: inflow.unit, zone: dma,
                                                intervalMillis: 86_400_000)
        }
        dmas = d
        let traffic = Dictionary(grouping: catalogue.sensors.filter { $0.kind == .traffic && $0.zone != nil }, by: { $0.zone! })
        transformers = t
        transformerStates = t.keys.sorted().map { TransformerState(id: $0, feeder: t[$0]!.feeder, customers: t[$0]!.customers) }
        transformerIndex = Dictionary(uniqueKeysWithValues: transformerStates.enumerated().map { ($1.id, $0) })
        junctions = traffic.mapValues { $0.map(\.id) }
        func members(_ sensors: [SensorEntry]) -> [String: [String]] {
            var m: [String: [String]] = [:]
            for s in sensors {
                m["unit.\(s.unit)", default: []].append(s.id)
                if let z = s.zone { m["zone.\(z)", default: []].append(s.id) }
            }
            return m
        }
        forestScopeMembers = members(catalogue.sensors.filter { $0.kind == .forest })
        stationScopeMembers = members(catalogue.sensors)
        scopeEntries = entries
        stations = ContiguousArray(catalogue.sensors.map { StationState(id: $0.id) })
    }

    /// The index of `sensor`'s state in `stations` (added the first time for a station the
    /// catalogue lacks).
    func station(_ sensor: String) -> Int {
        if let k = catalogue.index(ofSensor: sensor) { return k }
        if let k = extraStations[sensor] { return k }
        stations.append(StationState(id: sensor))
        extraStations[sensor] = stations.count - 1
        return stations.count - 1
    }

    /// The catalogue entry of station `k`.
    private func entry(ofStation k: Int) -> SensorEntry? {
        k < catalogue.sensors.count ? catalogue.sensors[k] : catalogue.sensor(stations[k].id)
    }

    /// The catalogue-like entry of a transformer scope, so rules can match it by kind, unit
    /// and zone (`{zone}` is the transformer id). Zone, unit and junction maxima have none:
    /// a kind rule would otherwise alert on them too, repeating each station's alert.
    public func scopeEntry(_ sensor: String) -> SensorEntry? { scopeEntries[sensor] }

    /// One committed reading. Trackers seen for the first time are rebuilt from `history`.
    /// Only catalogued sensors' readings derive anything: a station's area and kind say what
    /// its readings mean, and the derived series stay bounded by the catalogue (`entry` nil:
    /// nothing).
    public func observe(_ name: SeriesName, _ entry: SensorEntry?, _ r: BoundReading, history: any SampleHistory, now: EpochMillis) {
        guard let entry else { return }
        let route = route(of: r.series, name, entry)
        if route.isIdle { return }
        self.history = history
        let sample = Sample(time: r.time, value: r.value)
        let k = Int(route.station)
        if route.meterAlive { stations[k].meterArrival = now }
        if route.rainArrival { stations[k].rainArrival = now }
        // Families waiting for a recompute (this reading may have just made them so) take nothing.
        let waiting = route.fed.isEmpty ? FamilySet() : waitingFamilies(name, entry, route.fed, r.time, history: history)
        switch route.input {
        case .rain:
            if !waiting.contains(.rain) { rain(name, k, entry, sample, history: history) }
        case .level:
            if let levels = entry.alarmLevelsM, !waiting.contains(.river) {
                derive(k, "water_alarm_level", time: r.time, value: Double(WaterAlarm.level(r.value, levels: levels)),
                       level: true, exact: true)
                if let rise = WaterAlarm.risePerHour(sample, recent: hourBefore(name, r, history: history)) {
                    derive(k, "level_rise_m_h", time: r.time, value: (rise * 1000).rounded() / 1000, exact: true)
                }
            }
        case .air:
            if !waiting.contains(.air) { airQuality(name, k, sample, history: history) }
        case .volume:
            waterBalance(entry, sample, history: history)
        case .kwh:
            energyLoss(entry, k, sample, history: history)
        case .lastGasp:
            if r.value != 0 { lastGasp[name.sensor] = max(r.time, lastGasp[name.sensor] ?? .min) }
        case .speed:
            congestion(entry, k, sample)
        case .none:
            break
        }
        if route.fire, !waiting.contains(.fire) {
            // A station's readings of an earlier time in this commit (a backlog): its index
            // as of then, before this reading counts.
            if let touched = stations[k].fireTouched, touched.time != r.time {
                stations[k].fireTouched = nil
                deriveFireDanger(k, day: touched.day, time: touched.time)
            }
            let held = stations[k].fire.take()
            var tracker = held ?? seededFireDanger(k, at: r.time, history: history)
            if let day = tracker.record(metric: name.metric, time: r.time, value: r.value) {
                let prev = stations[k].fireTouched
                if prev == nil { fireTouchedList.append(k) }
                stations[k].fireTouched = (max(day, prev?.day ?? day), max(r.time, prev?.time ?? r.time))
            }
            stations[k].fire = tracker
        }
    }

    /// The route of series `id` (its readings all name `name`), worked out at its first reading.
    private func route(of id: SeriesID, _ name: SeriesName, _ entry: SensorEntry) -> InputRoute {
        let i = id.index
        if i >= routes.count { routes.append(contentsOf: repeatElement(InputRoute(), count: i + 1 - routes.count)) }
        if !routes[i].known {
            var route = InputRoute(metric: name.metric, entry: entry)
            route.station = Int32(station(name.sensor))
            routes[i] = route
        }
        return routes[i]
    }

    /// After a commit's readings were observed: the fire-danger index of every station touched
    /// (at its last reading time; earlier reading times of the commit had theirs in `observe`).
    public func finishBatch() {
        for k in fireTouchedList {
            // (Listed again when touched again after an earlier time of the commit.)
            guard let t = stations[k].fireTouched else { continue }
            stations[k].fireTouched = nil
            deriveFireDanger(k, day: t.day, time: t.time)
        }
        fireTouchedList.removeAll(keepingCapacity: true)
        computeTouchedScopes()
        history = nil
    }

    /// Periodic: rain gauges' 24 h sums and flood-risk levels as time passes (`tickRain`);
    /// unless a partition over a shared store (`computesScopes`), the share of silent meters
    /// per transformer (for outage alerts, `tickTransformers`), for every
    /// transformer with a meter heard from at least once. A meter is heard by its newest
    /// reading's time or, for readings that arrived late, by when they arrived. A meter never
    /// heard from counts from when its transformer was first watched: a backlog arriving in
    /// several commits, or meters reporting one by one after a first start, are not an outage.
    public func tick(now: EpochMillis, lastSeen: [String: EpochMillis], history: any SampleHistory) {
        self.history = history
        defer { self.history = nil }
        tickRain(now: now, history: history)
        computeTouchedScopes()
        if computesScopes { tickTransformers(now: now, lastSeen: lastSeen) }
    }

    /// The share of silent meters of each transformer with a meter heard from (`tick`; with
    /// partitions on a shared store, by the province lease's holder, `lastSeen` being the
    /// province's: `DerivedSeries+ProvinceEnergy`).
    public func tickTransformers(now: EpochMillis, lastSeen: [String: EpochMillis]) {
        for (tr, m) in transformers.sorted(by: { $0.key < $1.key }) {
            let meters = [m.feeder] + m.customers
            guard meters.contains(where: { lastSeen[$0.id] != nil }) else { continue }
            let since = watchedSince[tr] ?? now
            watchedSince[tr] = since
            var heard: [String: EpochMillis] = [:]
            for meter in meters {
                let k = station(meter.id)
                let t = max(lastSeen[meter.id] ?? .min, stations[k].meterArrival ?? .min)
                heard[meter.id] = t > .min ? t : since
            }
            let pct = Outage.silentPct(meters: meters, lastSeen: heard, lastGasp: lastGasp, now: now,
                                       intervals: config.outageSilentIntervals)
            derive("transformer.\(tr)", "meters_silent_pct", time: now, value: (pct * 100).rounded() / 100)
        }
    }

    /// Derived readings waiting to be committed, taken by the caller (the next `generation`).
    /// Corrections made since the last `take` belong to the same generation
    /// (`takeCorrections`, right after).
    public func take() -> [Reading] {
        defer { pending.removeAll(keepingCapacity: true) }
        generation += 1
        return pending
    }

    // MARK: Rain and floods

    private func rain(_ name: SeriesName, _ k: Int, _ entry: SensorEntry?, _ s: Sample, history: any SampleHistory) {
        var (w, days) = rainTrackers(name, k, before: s.time, history: history)
        w.add(s)
        days.add(time: s.time, mm: s.value)
        let newest = w.newest
        let earlier = newest.map { days.earlierDays(before: $0) } ?? 0
        stations[k].rain24h = w
        stations[k].rainyDays = days
        guard let newest else { return }
        let total = (w.sum * 100).rounded() / 100
        derive(k, "rain_24h_mm", time: newest, value: total)
        floodLevel(k, entry, rain24hMM: total, earlierDays: earlier, at: newest)
    }

    /// A gauge's rolling 24 h sum and rainy days, rebuilt from its stored readings of the 24 h
    /// before `t` (`t` itself too when `including`) the first time it is seen since the start.
    private func rainTrackers(_ name: SeriesName, _ k: Int, before t: EpochMillis, including: Bool = false,
                              history: any SampleHistory) -> (RollingSum, RainyDays) {
        let end = including ? t + 1 : t
        let heldSum = stations[k].rain24h.take(), heldDays = stations[k].rainyDays.take()
        let w = heldSum ?? seeded(RollingSum(window: 86_400_000), name, from: end - 86_400_000, to: end, history: history) { $0.add($1) }
        let days = heldDays ?? seeded(RainyDays(rainyDayMM: config.rainyDayMM, timeZone: timeZone.zone), name,
                                      from: t - 11 * 86_400_000, to: .max, history: history) {
            $0.add(time: $1.time, mm: $1.value)
        }
        return (w, days)
    }

    /// A gauge's flood-risk level at `t`, and its zone's and unit's (the maxima).
    private func floodLevel(_ k: Int, _ entry: SensorEntry?, rain24hMM total: Double, earlierDays: Int, at t: EpochMillis) {
        let (table, susceptibility) = floodRisk(k, entry)
        let level = Double(table.level(rain24hMM: total, earlierDays: earlierDays, susceptibility: susceptibility))
        derive(k, "flood_risk_level", time: t, value: level, level: true)
        guard let entry else { return }
        // Zone and unit: the maximum over their stations' levels (`DerivedSeries+Scopes`).
        memberValue(.flood, station: k, scopes: scopes(k, entry), Sample(time: t, value: level))
    }

    /// Periodic: each gauge's 24 h sum and flood-risk level as time passes with no reading: a
    /// gauge that reports only when it rains would otherwise keep its last sum (and level)
    /// forever. Only gauges with no reading arriving for `rainQuietAfter` are ticked: one
    /// still sending a backlog is judged by its readings' own times. A fall is stamped when
    /// it happened, at the time the rain left the window (not at the tick), and the level
    /// is evaluated again when the sum or the count of earlier rainy days changed. After a
    /// start, a catalogued gauge whose stored sum is above 0 and that has sent nothing for
    /// `DerivedConfig.rainQuietAfterMillis` since (a backlog the broker holds comes at once,
    /// whatever the gauge's interval) is rebuilt from storage, so the sum still falls to 0 with no new
    /// reading, even when its last rain left the window while the collector was down. Not
    /// sooner: a backlog the broker redelivers after the start would otherwise arrive after a
    /// fall stamped later than its readings.
    private func tickRain(now: EpochMillis, history: any SampleHistory) {
        let started = firstTick ?? now
        firstTick = started
        if now - started >= config.rainQuietAfterMillis {
            for (k, s) in catalogue.sensors.enumerated() where s.metrics["rain_mm"] != nil && stations[k].rain24h == nil && !rainRebuilt.contains(s.id) {
                rainRebuilt.insert(s.id)
                guard let sumName = try? SeriesName(sensor: s.id, metric: "rain_24h_mm"),
                      let rainName = try? SeriesName(sensor: s.id, metric: "rain_mm"),
                      let last = try? history.lastStored(sumName, before: .max), last.value > 0 else { continue }
                if lastStoredSample(sumName) == nil { setLastStored(sumName, last) }
                let (w, days) = rainTrackers(rainName, k, before: now, including: true, history: history)
                stations[k].rainyDays = days
                if w.newest == nil {
                    // Nothing left in the window: 0 from when the last rain left it.
                    let lastRain = (try? history.lastStored(rainName, before: .max))?.time
                    let fell = min(now, lastRain.map { $0 + w.window } ?? now)
                    derive(s.id, "rain_24h_mm", time: fell, value: 0)
                    floodLevel(k, s, rain24hMM: 0, earlierDays: days.earlierDays(before: now), at: fell)
                } else {
                    stations[k].rain24h = w
                }
            }
        }
        let gauges = stations.indices.filter { stations[$0].rain24h != nil }.sorted { stations[$0].id < stations[$1].id }
        for k in gauges {
            guard let w = stations[k].rain24h else { continue }
            let sensor = stations[k].id
            guard let newest = w.newest, now > newest, stations[k].rainArrival.map({ now - $0 >= rainQuietAfter(sensor) }) ?? true,
                  dirty[FamilyKey(sensor: sensor, family: .rain)] == nil,
                  let sumName = try? SeriesName(sensor: sensor, metric: "rain_24h_mm") else { continue }
            let total = (w.sum(at: now) * 100).rounded() / 100
            let earlier = stations[k].rainyDays?.earlierDays(before: now) ?? 0
            let sumChanged = lastStoredSample(sumName)?.value != total
            guard sumChanged || stations[k].tickedDays != earlier else { continue }
            stations[k].tickedDays = earlier
            let at = sumChanged ? (w.lastDeparture(notAfter: now) ?? now) : now
            if sumChanged { derive(sensor, "rain_24h_mm", time: at, value: total) }
            floodLevel(k, entry(ofStation: k), rain24hMM: total, earlierDays: earlier, at: at)
        }
    }

    /// How long a gauge must be quiet (no reading arriving) before the clock moves its sum:
    /// two of its intervals, at least `DerivedConfig.rainQuietAfterMillis` (10 minutes).
    private func rainQuietAfter(_ sensor: String) -> EpochMillis {
        max(config.rainQuietAfterMillis, 2 * (catalogue.sensor(sensor)?.intervalMillis ?? 0))
    }

    /// The flood-risk table and susceptibility of a station: its zone's (else its own, else
    /// the default medium); the table configured for its zone, else the one configured for
    /// all, else Article 46's for its region (its zone's, its own, or the province's).
    private func floodRisk(_ k: Int, _ entry: SensorEntry?) -> (FloodRiskTable, Susceptibility) {
        if let known = stations[k].floodRisk { return known }
        let area = config.floodArea(of: entry, in: catalogue)
        let resolved = (config.configuredFloodRisk(for: entry) ?? FloodRiskTable.article46(region: area.region),
                        area.susceptibility ?? FloodRiskTable.defaultSusceptibility)
        stations[k].floodRisk = resolved
        return resolved
    }

    /// The stored samples of a reading's series in the hour before it: from the latest
    /// samples when they reach back that far (they hold every sample from their first on),
    /// else from storage (a backlog longer than they hold, a replay after a restart).
    private func hourBefore(_ name: SeriesName, _ r: BoundReading, history: any SampleHistory) -> [Sample] {
        let from = r.time - 3_600_000
        let recent = history.recent(r.series)
        if let first = recent.first, first.time <= from { return recent }
        do {
            return try history.window(name, r.series, from: from, to: r.time)
        } catch {
            logger.warning("cannot read the last hour of a series; using the latest samples",
                           metadata: ["series": "\(name)", "error": "\(error)"])
            return recent
        }
    }

    // MARK: Air

    private func airQuality(_ name: SeriesName, _ k: Int, _ s: Sample, history: any SampleHistory) {
        let held = stations[k].air.take()
        var t = held ?? {
            var t = AirQualityTracker()
            for p in VNAQI.Pollutant.allCases {
                guard let n = try? SeriesName(sensor: name.sensor, metric: p.rawValue) else { continue }
                t = seeded(t, n, from: s.time - 25 * 3_600_000, to: .max, history: history) {
                    _ = $0.record(metric: p.rawValue, time: $1.time, value: $1.value)
                }
            }
            return t
        }()
        t.record(metric: name.metric, time: s.time, value: s.value)
        // Each hour once it is complete, stamped at its start.
        for done in t.takeCompleted() {
            if let a = done.hourly { derive(k, "aqi", time: done.hour, value: a, exact: true) }
            if let a = done.daily { derive(k, "aqi_24h", time: done.hour, value: a, exact: true) }
        }
        stations[k].air = t
    }

    // MARK: Power

    private func energyLoss(_ entry: SensorEntry, _ k: Int, _ s: Sample, history: any SampleHistory) {
        guard computesScopes else { return }   // (with partitions, the province's holder: `recomputeEnergy`)
        if stations[k].transformer == StationState.notLookedUp {
            stations[k].transformer = Int32(entry.zone.flatMap { transformerIndex[$0] } ?? -1)
        }
        let i = Int(stations[k].transformer)
        guard i >= 0 else { return }
        let tr = transformerStates[i].id
        let hourStart = EnergyLossTracker.hourStart(s.time)
        func seed(_ tracker: inout EnergyLossTracker, from: EpochMillis, to: EpochMillis) {
            for meter in [transformerStates[i].feeder] + transformerStates[i].customers {
                guard let n = try? SeriesName(sensor: meter.id, metric: "kwh") else { continue }
                tracker = seeded(tracker, n, from: from, to: to, history: history) {
                    if let done = $0.record(meter: meter.id, time: $1.time, kwh: $1.value) { self.energyHour(tr, done) }
                }
            }
        }
        var tracker: EnergyLossTracker
        if let t = transformerStates[i].tracker.take() {
            tracker = t
            if let from = transformerStates[i].seededFrom, hourStart < from {
                // Older than what the tracker was rebuilt from: that hour's stored readings first,
                // or a late reading that completes it would find it nearly empty.
                seed(&tracker, from: hourStart, to: from)
                transformerStates[i].seededFrom = hourStart
            }
        } else {
            tracker = EnergyLossTracker(feeder: transformerStates[i].feeder, customers: transformerStates[i].customers)
            seed(&tracker, from: hourStart - 2 * 3_600_000, to: .max)
            transformerStates[i].seededFrom = hourStart - 2 * 3_600_000
        }
        if let done = tracker.record(meter: entry.id, time: s.time, kwh: s.value) { energyHour(tr, done) }
        transformerStates[i].tracker = tracker
    }

    /// A completed hour: stored at the hour's start (each hour is reported once; a repeat
    /// after a restart lands on the same time and is deduplicated). `feeder_meter_fault` is 1
    /// for an hour whose feeder meter read nothing while customers consumed (that hour has
    /// no loss figure), 0 otherwise.
    private func energyHour(_ tr: String, _ done: (hour: EpochMillis, lossPct: Double?)) {
        Self.energyOutputs(done) { metric, time, value in
            guard let name = try? SeriesName(sensor: "transformer.\(tr)", metric: metric) else { return }
            pending.append(Reading(series: name, time: time, value: value))
        }
    }

    /// The series a transformer's hours are stored on.
    static let energyMetrics = ["energy_loss_pct", "feeder_meter_fault"]

    /// The readings of a completed hour: (metric, time, value).
    static func energyOutputs(_ done: (hour: EpochMillis, lossPct: Double?), _ put: (String, EpochMillis, Double) -> Void) {
        if let pct = done.lossPct { put("energy_loss_pct", done.hour, (pct * 100).rounded() / 100) }
        put("feeder_meter_fault", done.hour, done.lossPct == nil ? 1 : 0)
    }

    // MARK: Traffic

    private func congestion(_ entry: SensorEntry, _ k: Int, _ s: Sample) {
        var est = stations[k].freeFlow.take() ?? FreeFlowEstimator(timeZone: timeZone.zone)
        est.add(time: s.time, speedKmh: s.value)
        stations[k].freeFlow = est
        guard let ff = entry.freeFlowKmh ?? est.freeFlowKmh else { return }
        let c = (Congestion.index(speedKmh: s.value, freeFlowKmh: ff) * 1000).rounded() / 1000
        derive(k, "congestion", time: s.time, value: c, exact: true)
        if let tti = Congestion.travelTimeIndex(speedKmh: s.value, freeFlowKmh: ff) {
            derive(k, "travel_time_index", time: s.time, value: (tti * 1000).rounded() / 1000, exact: true)
        }
        if let j = entry.zone, junctions[j] != nil {
            memberValue(.junction, station: k, scopes: ["junction.\(j)"], Sample(time: s.time, value: c))
        }
    }

    // MARK: Fire danger

    /// `fire_danger_p` and `fire_danger_level` of a forest station: for the newest day known,
    /// at the triggering reading's time (kept strictly increasing per station, so an update
    /// never collides with the (series, time) dedupe).
    private func deriveFireDanger(_ k: Int, day: EpochMillis, time: EpochMillis) {
        guard stations[k].fire != nil else { return }   // (read in place below, not copied)
        let prev = stations[k].lastFire
        let currentDay = max(day, prev?.day ?? day)
        let t = max(time, (prev?.time ?? .min) + 1)
        stations[k].lastFire = (t, currentDay)
        let p = ((stations[k].fire?.p(on: currentDay) ?? 0) * 10).rounded() / 10
        derive(k, "fire_danger_p", time: t, value: p, level: true)
        derive(k, "fire_danger_level", time: t, value: Double(FireDanger.level(p)), level: true)
        guard let entry = entry(ofStation: k) else { return }
        // Zone and unit: the maximum over their stations (`DerivedSeries+Scopes`).
        memberValue(.fire, station: k, scopes: scopes(k, entry), Sample(time: t, value: p))
    }

    /// A fire-danger tracker for a station first seen since start: it continues from the last
    /// stored `fire_danger_p` before the reading's day, with that day's stored inputs replayed,
    /// so a restart does not reset a dry spell's index to zero.
    private func seededFireDanger(_ k: Int, at t: EpochMillis, history: any SampleHistory) -> FireDangerTracker {
        let sensor = stations[k].id
        var tracker = FireDangerTracker(timeZone: timeZone.zone)
        let day = tracker.dayStart(t)
        do {
            if let pName = try? SeriesName(sensor: sensor, metric: "fire_danger_p"),
               let last = try history.lastStored(pName, before: day) {
                tracker.seed(p: last.value, before: day)
                stations[k].lastFire = (last.time, tracker.dayStart(last.time))
            } else {
                tracker.seed(p: 0, before: day)
            }
        } catch {
            logger.warning("cannot read the stored fire-danger index; starting from zero",
                           metadata: ["sensor": "\(sensor)", "error": "\(error)"])
        }
        for metric in FireDangerStage.inputs {
            guard let n = try? SeriesName(sensor: sensor, metric: metric) else { continue }
            tracker = seeded(tracker, n, from: day, to: .max, history: history) {
                _ = $0.record(metric: metric, time: $1.time, value: $1.value)
            }
        }
        return tracker
    }

    // MARK: Helpers

    /// The unit and zone scopes of a station.
    func scopes(of entry: SensorEntry) -> [String] { scopes(station(entry.id), entry) }

    /// The unit and zone scopes of station `k` (its catalogue entry `entry`), built once.
    private func scopes(_ k: Int, _ entry: SensorEntry) -> [String] {
        if let s = stations[k].scopes { return s }
        let s = entry.zone.map { ["unit.\(entry.unit)", "zone.\($0)"] } ?? ["unit.\(entry.unit)"]
        stations[k].scopes = s
        return s
    }


    /// A tracker fed the stored samples of `name` in [from, to), except those it is being
    /// or will be handed (`SampleHistory.history`).
    func seeded<T>(_ initial: T, _ name: SeriesName, from: EpochMillis, to: EpochMillis, history: any SampleHistory,
                           _ feed: (inout T, Sample) -> Void) -> T {
        var t = initial
        do {
            for s in try history.history(name, from: from, to: to) { feed(&t, s) }
        } catch {
            logger.warning("cannot rebuild a derived series from storage; starting from this reading",
                           metadata: ["series": "\(name)", "error": "\(error)"])
        }
        return t
    }

    /// One derived reading. `exact`: at `time` itself, for a value that describes one input
    /// reading or one bucket (a station's congestion at a reading, an hour's AQI), so a late
    /// or shuffled backlog lands where it belongs; each such time comes once. Otherwise at a
    /// time strictly after the series' previous one: for a value "as of now" of several
    /// inputs (a 24 h sum, a scope's maximum), where a second commit at the same reading time
    /// gives the final value a millisecond later (a late input is recomputed instead:
    /// `DerivedSeries+Late`). A
    /// `level` (a value that changes seldom) is stored only when it differs from the series'
    /// last stored value or `levelHeartbeat` has passed since it, in reading time.
    /// Returns whether it was stored.
    @discardableResult
    func derive(_ sensor: String, _ metric: String, time: EpochMillis, value: Double, level: Bool = false, exact: Bool = false) -> Bool {
        if let k = catalogue.index(ofSensor: sensor) { return derive(k, metric, time: time, value: value, level: level, exact: exact) }
        guard let name = try? SeriesName(sensor: sensor, metric: metric) else { return false }
        // The series' last stored reading, looked up once and changed in place.
        guard let t = Self.store(time: time, value: value, level: level, exact: exact, after: &lastStored[name]) else { return false }
        pending.append(Reading(series: name, time: t, value: value))
        return true
    }

    /// `derive` for station `k`: its output's name and last stored reading are in its state.
    @discardableResult
    func derive(_ k: Int, _ metric: String, time: EpochMillis, value: Double, level: Bool = false, exact: Bool = false) -> Bool {
        guard k < catalogue.sensors.count else { return derive(stations[k].id, metric, time: time, value: value, level: level, exact: exact) }
        guard let o = stations[k].output(metric),
              let t = Self.store(time: time, value: value, level: level, exact: exact, after: &stations[k].outputs[o].last) else { return false }
        pending.append(Reading(series: stations[k].outputs[o].name, time: t, value: value))
        return true
    }

    /// The last stored reading of derived series `name` (a catalogued station's in its state).
    func lastStoredSample(_ name: SeriesName) -> Sample? {
        guard let k = catalogue.index(ofSensor: name.sensor) else { return lastStored[name] }
        return stations[k].outputs.first { $0.metric == name.metric }?.last
    }

    /// Sets the last stored reading of derived series `name`.
    func setLastStored(_ name: SeriesName, _ sample: Sample?) {
        guard let k = catalogue.index(ofSensor: name.sensor) else { return lastStored[name] = sample }
        guard let o = stations[k].output(name.metric) else { return }
        stations[k].outputs[o].last = sample
    }

    /// The time a derived reading is stored at after `last` (nil: not stored), and `last` moved on.
    static func store(time: EpochMillis, value: Double, level: Bool, exact: Bool, after last: inout Sample?) -> EpochMillis? {
        if level, let l = last, l.value == value, abs(time - l.time) < levelHeartbeat { return nil }
        let t = exact ? time : max(time, (last?.time ?? .min) + 1)
        if t >= last?.time ?? .min { last = Sample(time: t, value: value) }
        return t
    }
}

/// Names of the readings the fire-danger index is built from.
enum FireDangerStage {
    static let inputs: Set<String> = ["temp_c", "rh_pct", "rain_mm"]
}

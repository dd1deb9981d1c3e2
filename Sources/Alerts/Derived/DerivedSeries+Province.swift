import Logging
import Telemetry

/// With partitions on a shared store, the province lease's holder computes every zone, unit
/// and junction maximum from the members' values all partitions stored, and no partition
/// computes any (`computesScopes` false). It is told which members changed, from which time
/// on (`PostgresStore.changes`), keeps the members' recent values in memory
/// (`provinceValues`, refreshed from the store for the changed ones), recomputes each scope of
/// a changed member from the earliest such time on, and corrects the scope's stored series
/// where it differs. DMAs' water balances and transformers' energy losses likewise
/// (`DerivedSeries+ProvinceWater`, `+ProvinceEnergy`).
///
/// The values are the maxima of the members' values in force at each stored member value's
/// time. One collector computing a scope itself evaluates it at every member value it
/// computes, stored or not (a level is stored when it changes or a heartbeat after): the
/// maxima agree, but a member value that drops out of its window is noticed here at the next
/// stored member value rather than the next computed one.
extension DerivedSeries {
    /// Forgets the members' values held (the province lease changed hands: another holder
    /// may have handled their changes meanwhile).
    public func resetProvinceValues() {
        provinceValues = [:]
        provinceWater = [:]
        provinceEnergy = [:]
        // (Another holder may have corrected the DMAs' days meanwhile: read again, `seedWaterDays`.)
        waterDays = [:]
        waterLatest = [:]
        waterDaysSeeded = false
        gaspsSeeded = false
    }

    /// The corrections of the scopes whose members changed (for the caller to store, with the
    /// changes it handled, in one transaction); nil when the store could not be read (the
    /// changes stay for the next call).
    /// `now`: when the changes are handled (the changed meters are heard then).
    public func recomputeScopes(changed: [(name: SeriesName, from: EpochMillis)], history: any SampleHistory,
                                now: EpochMillis? = nil) -> [SeriesCorrection]? {
        var dirty: [ScopeRef: EpochMillis] = [:]
        var members: [ScopeKind: [String: EpochMillis]] = [:]
        var meters: [String: [String: EpochMillis]] = [:]   // DMA -> its changed meters
        var power: [String: [String: EpochMillis]] = [:]    // transformer -> its changed meters
        var gasps: [(SeriesName, EpochMillis)] = []
        for (name, from) in changed {
            guard let entry = catalogue.sensor(name.sensor) else { continue }   // (a scope's own series)
            if let dma = dma(ofChanged: name, entry) {
                meters[dma, default: [:]][name.sensor] = min(meters[dma]?[name.sensor] ?? .max, from)
                continue
            }
            if let tr = transformer(ofChanged: name, entry) {
                power[tr, default: [:]][name.sensor] = min(power[tr]?[name.sensor] ?? .max, from)
                continue
            }
            if name.metric == "last_gasp" {
                gasps.append((name, from))
                continue
            }
            for kind in ScopeKind.allCases where kind.memberMetric == name.metric {
                let scopes = kind == .junction ? entry.zone.map { ["junction.\($0)"] } ?? [] : self.scopes(of: entry)
                for scope in scopes {
                    let ref = ScopeRef(kind: kind, scope: scope)
                    guard self.members(ref).contains(name.sensor) else { continue }
                    dirty[ref] = min(dirty[ref] ?? .max, from)
                    members[kind, default: [:]][name.sensor] = min(members[kind]?[name.sensor] ?? .max, from)
                }
            }
        }
        let seeding = !gaspsSeeded && now != nil
        do {
            // A new holder's first round: the gasps the partitions stored before, read as changes.
            if seeding, let now { gasps += try gaspsToSeed(now: now) }
            // What the round will read, read ahead in a few statements: every changed series
            // from its change on, the members of each changed scope that memory does not
            // hold back to the scope's window, and the scope's own series from a heartbeat
            // before (what was stored, and the value in force, at its change).
            var ahead: [SeriesName: EpochMillis] = [:]
            for (name, from) in changed where catalogue.sensor(name.sensor) != nil { ahead[name] = min(ahead[name] ?? .max, from) }
            for (name, from) in gasps { ahead[name] = min(ahead[name] ?? .max, from) }
            for (ref, from) in dirty {
                for metric in ref.kind.outputMetrics {
                    let name = try SeriesName(sensor: ref.scope, metric: metric)
                    ahead[name] = min(ahead[name] ?? .max, from - Self.levelHeartbeat)
                }
                let start = from - ref.kind.window
                for m in self.members(ref) {
                    let values = provinceValues[ref.kind]
                    guard values?.isLoaded(m) != true || (values?.complete(m) ?? .max) > start else { continue }
                    let name = try SeriesName(sensor: m, metric: ref.kind.memberMetric)
                    ahead[name] = min(ahead[name] ?? .max, start)
                }
            }
            try history.prefetch(ahead)
            defer { history.forgetPrefetched() }
            // The changed members' values from their change on, where they are held already
            // (the others are loaded with their scopes below).
            for (kind, changedFrom) in members {
                for (m, from) in changedFrom where provinceValues[kind]?.isLoaded(m) == true {
                    let name = try SeriesName(sensor: m, metric: kind.memberMetric)
                    provinceValues[kind]?.replace(m, from: from, with: try history.stored(name, from: from, to: .max))
                }
            }
            var out: [SeriesCorrection] = []
            for (ref, from) in dirty.sorted(by: { $0.key < $1.key }) {
                let window = ref.kind.window
                var values = provinceValues[ref.kind] ?? ScopeMaxima(window: window)
                let ms = self.members(ref)
                var older: [String: [Sample]] = [:]
                var times = Set<EpochMillis>()
                for m in ms {
                    let name = try SeriesName(sensor: m, metric: ref.kind.memberMetric)
                    if !values.isLoaded(m) { values.load(m, try history.stored(name, from: from - window, to: .max), from: from - window) }
                    // Values older than memory holds (a change reaching far back), read from the store.
                    let held = values.complete(m) ?? .max
                    if held > from - window {
                        let o = try history.stored(name, from: from - window, to: held)
                        older[m] = o
                        for s in o where s.time >= from { times.insert(s.time) }
                    }
                }
                times.formUnion(values.times(of: ms, from: from))
                provinceValues[ref.kind] = values
                out += try correct(ref, from: from, times: times.sorted(), history: history) { values.maximum(of: ms, at: $0, older: older) }
            }
            for kind in Array(provinceValues.keys) { provinceValues[kind]?.trim() }
            for (name, from) in gasps { try gaspsChanged(name, from: from, history: history) }
            if seeding { gaspsSeeded = true }
            if !waterDaysSeeded {
                try seedWaterDays(history: history)
                waterDaysSeeded = true
            }
            return out + (try recomputeWater(meters, history: history)) + (try recomputeEnergy(power, now: now, history: history))
        } catch {
            logger.warning("cannot read the scopes' members from the shared store; will retry", metadata: ["error": "\(error)"])
            return nil
        }
    }
}

import Logging
import Telemetry

/// Which members' values a scope's maximum is taken over, and what it derives.
enum ScopeKind: Int, CaseIterable, Hashable, Sendable {
    /// `zone.<id>`, `unit.<id>`: forest stations' `fire_danger_p` -> `fire_danger_p`, `fire_danger_level`.
    case fire
    /// `zone.<id>`, `unit.<id>`: every station's `flood_risk_level` -> `flood_risk_level`.
    case flood
    /// `junction.<id>`: traffic sensors' `congestion` -> `congestion`.
    case junction

    /// The members' metric.
    var memberMetric: String {
        switch self {
        case .fire: "fire_danger_p"
        case .flood: "flood_risk_level"
        case .junction: "congestion"
        }
    }

    /// How long a member's value counts: a daily index and a flood level for a day, a
    /// traffic sensor's congestion for half an hour.
    var window: EpochMillis {
        switch self {
        case .fire, .flood: 86_400_000
        case .junction: 1_800_000
        }
    }

    /// The scope's series' metrics, in the order of `value(_:at:)`'s outputs.
    var outputMetrics: [String] {
        switch self {
        case .fire: ["fire_danger_p", "fire_danger_level"]
        case .flood: ["flood_risk_level"]
        case .junction: ["congestion"]
        }
    }

    /// Output `o`'s value at a maximum `v` (the fire danger's level from its index; the
    /// maximum itself otherwise).
    func value(_ o: Int, at v: Double) -> Double {
        self == .fire && o == 1 ? Double(FireDanger.level(v)) : v
    }

    /// The scope's series at a maximum `v`.
    func outputs(_ v: Double) -> [(metric: String, value: Double)] {
        outputMetrics.enumerated().map { ($1, value($0, at: v)) }
    }
}

/// One scope of one kind (`zone.z1` for fire danger).
struct ScopeRef: Hashable, Sendable, Comparable {
    var kind: ScopeKind
    var scope: String

    static func < (a: ScopeRef, b: ScopeRef) -> Bool { (a.scope, a.kind.rawValue) < (b.scope, b.kind.rawValue) }
}

/// Zone, unit and junction maxima, whatever order their members' values arrive in: at each
/// time a member derives a value, the scope's value is the largest of its members' values in
/// force then (`ScopeMaxima`), computed at the end of the commit. A member value older than
/// the scope's newest computed time (a late reading, or a member's correction) makes the
/// scope dirty: it is recomputed from then on at the next settle, from the members' values
/// held in memory (those not stored yet included; older ones from storage), and corrected
/// where it differs. This is what a replay of the inputs in time order gives, so
/// `collector verify` compares these series too.
extension DerivedSeries {
    /// Station `k`'s value at `s.time` as a member of its `kind` scopes (`scopes`: their names,
    /// asked the first time only).
    func memberValue(_ kind: ScopeKind, station k: Int, scopes: @autoclosure () -> [String], _ s: Sample) {
        guard computesScopes else { return }
        var slot = Int(stations[k].memberSlot[kind])
        if slot < 0 {
            slot = scopeValues[kind].slot(stations[k].id)
            stations[k].memberSlot[kind] = Int32(slot)
        }
        // (A member with values before this one is active already.)
        var count = scopeValues[kind].recordIfLoaded(slot: slot, s)
        if count == nil {
            loadMember(kind, stations[k].id, near: s.time)
            count = scopeValues[kind].recordIfLoaded(slot: slot, s)
        }
        let first = count == 1
        let ids: [Int32]
        if let known = stations[k].scopeIDs[kind] {
            ids = known
        } else {
            ids = scopes().compactMap { scopeID(ScopeRef(kind: kind, scope: $0)).map(Int32.init) }
            stations[k].scopeIDs[kind] = ids
        }
        for id32 in ids {
            let id = Int(id32)
            if first { activate(id, slot) }
            let newest = seedScope(id)
            if (!lateScopes.isEmpty && lateScopes[scopeStates[id].ref] != nil) || s.time < newest {
                // Late, or waiting for its recompute (which covers this time): no live value.
                markLate(scopeStates[id].ref, from: s.time)
            } else {
                if scopeStates[id].touched.isEmpty { touchedScopes.append(id) }
                scopeStates[id].touched.append(s.time)
            }
        }
    }

    /// The index of `ref`'s state in `scopeStates`, added the first time (nil: its name makes
    /// no valid series name).
    func scopeID(_ ref: ScopeRef) -> Int? {
        if let id = scopeIndex[ref] { return id }
        guard let state = ScopeState(ref) else { return nil }
        scopeStates.append(state)
        scopeIndex[ref] = scopeStates.count - 1
        return scopeStates.count - 1
    }

    /// A scope's newest computed time; the first time it is seen since the start, its newest
    /// stored time and values (a value older than what it stored is late; a level repeats
    /// nothing already stored).
    @discardableResult
    private func seedScope(_ id: Int) -> EpochMillis {
        if let known = scopeStates[id].newest { return known }
        var newest = EpochMillis.min
        for name in scopeStates[id].names {
            guard let last = (try? history?.lastStored(name, before: .max)) ?? nil else { continue }
            if lastStoredSample(name) == nil { setLastStored(name, last) }
            newest = max(newest, last.time)
        }
        scopeStates[id].newest = newest
        return newest
    }

    /// A member's values from `from` on were corrected: its scopes are recomputed from then.
    func memberCorrected(_ kind: ScopeKind, _ member: String, from: EpochMillis, _ samples: [Sample]) {
        guard computesScopes, let entry = catalogue.sensor(member) else { return }
        loadMember(kind, member, near: from)
        scopeValues[kind].replace(member, from: from, with: samples)
        let slot = scopeValues[kind].slot(member)
        let scopes = kind == .junction ? entry.zone.map { ["junction.\($0)"] } ?? [] : self.scopes(of: entry)
        for scope in scopes {
            let ref = ScopeRef(kind: kind, scope: scope)
            if !samples.isEmpty, let id = scopeID(ref) { activate(id, slot) }
            markLate(ref, from: from)
        }
    }

    /// A member with a value counts in its scope's maximum from now on.
    private func activate(_ id: Int, _ slot: Int) {
        guard scopeStates[id].active != nil else { return }   // (filled at the scope's first computation)
        if !scopeStates[id].active!.contains(slot) { scopeStates[id].active!.append(slot) }
    }

    /// The scope's members that have a value, by slot; the first time, every member's stored
    /// values around `t` are loaded.
    private func activeMembers(_ id: Int, near t: EpochMillis) -> [Int] {
        if let known = scopeStates[id].active { return known }
        let kind = scopeStates[id].ref.kind
        let all = members(scopeStates[id].ref)
        for m in all { loadMember(kind, m, near: t) }
        let active = all.map { scopeValues[kind].slot($0) }.filter { scopeValues[kind].holds(slot: $0) }
        scopeStates[id].active = active
        return active
    }

    private func markLate(_ ref: ScopeRef, from: EpochMillis) {
        if let known = lateScopes[ref] {
            lateScopes[ref] = (min(known.from, from), known.job, known.generation)
        } else {
            lateScopes[ref] = (from, currentJob, generation + 1)
        }
    }

    func members(_ ref: ScopeRef) -> [String] {
        switch ref.kind {
        case .fire: forestScopeMembers[ref.scope] ?? []
        case .flood: stationScopeMembers[ref.scope] ?? []
        case .junction: junctionMembers(ref.scope)
        }
    }

    /// A member's stored values around `t`, loaded the first time it is needed.
    private func loadMember(_ kind: ScopeKind, _ member: String, near t: EpochMillis) {
        guard !scopeValues[kind].isLoaded(member) else { return }
        var stored: [Sample] = []
        if let history, let name = try? SeriesName(sensor: member, metric: kind.memberMetric) {
            do {
                stored = try history.stored(name, from: t - scopeValues[kind].keep, to: .max)
            } catch {
                logger.warning("cannot read a scope member's values; taking those from now on",
                               metadata: ["series": "\(name)", "error": "\(error)"])
            }
        }
        scopeValues[kind].load(member, stored)
    }

    /// The scope times noted since the last call, each computed in time order (end of a
    /// commit, of a tick).
    func computeTouchedScopes() {
        guard !touchedScopes.isEmpty else { return }
        touchedScopes.sort { scopeStates[$0].ref < scopeStates[$1].ref }
        for id in touchedScopes {
            var times = scopeStates[id].touched
            scopeStates[id].touched.removeAll(keepingCapacity: true)
            let ref = scopeStates[id].ref
            guard lateScopes.isEmpty || lateScopes[ref] == nil else { continue }
            times.sort()
            var n = 1
            for i in 1..<times.count where times[i] != times[n - 1] {
                times[n] = times[i]
                n += 1
            }
            times.removeLast(times.count - n)
            let ms = activeMembers(id, near: times[0])
            let maxima = scopeValues[ref.kind].maxima(ofSlots: ms, at: times)
            for (t, v) in zip(times, maxima) {
                guard let v else { continue }
                for o in scopeStates[id].names.indices { deriveScope(id, o, time: t, value: ref.kind.value(o, at: v)) }
            }
            scopeStates[id].newest = max(scopeStates[id].newest ?? .min, times[times.count - 1])
        }
        touchedScopes.removeAll(keepingCapacity: true)
    }

    /// A scope's output `o` (`ScopeKind.outputMetrics`' order) at `t`, as
    /// `derive` stores a level.
    private func deriveScope(_ id: Int, _ o: Int, time: EpochMillis, value: Double) {
        let name = scopeStates[id].names[o]
        guard let t = Self.store(time: time, value: value, level: true, exact: false, after: &lastStored[name]) else { return }
        pending.append(Reading(series: name, time: t, value: value))
    }

    /// Recomputes the scopes late member values made dirty, each from its earliest late time
    /// on, once every value it derived before is stored (take generations up to
    /// `storedGeneration`), and corrects their series where they differ.
    func recomputeLateScopes(storedGeneration: Int, history: any SampleHistory) {
        guard !lateScopes.isEmpty else { return }
        for (ref, late) in lateScopes.sorted(by: { $0.key < $1.key }) where late.generation <= storedGeneration {
            lateScopes[ref] = nil
            if !recomputeScope(ref, from: late.from, history: history) { lateScopes[ref] = late }
        }
    }

    /// False when its members cannot be read (it stays dirty).
    private func recomputeScope(_ ref: ScopeRef, from: EpochMillis, history: any SampleHistory) -> Bool {
        guard let id = scopeID(ref) else { return true }
        let slots = activeMembers(id, near: from)
        let values = scopeValues[ref.kind]
        let ms = slots.map { values.members[$0] }
        // Values older than memory holds, read from storage.
        var older: [String: [Sample]] = [:]
        var times = Set(values.times(of: ms, from: from))
        do {
            for m in ms {
                let held = values.heldFrom(m) ?? .max
                guard held > from - values.window, let name = try? SeriesName(sensor: m, metric: ref.kind.memberMetric) else { continue }
                let o = try history.stored(name, from: from - values.window, to: held)
                older[m] = o
                for s in o where s.time >= from { times.insert(s.time) }
            }
        } catch {
            logger.warning("cannot read a scope's members to recompute it; will retry", metadata: ["scope": "\(ref.scope)", "error": "\(error)"])
            return false
        }
        do {
            corrections += try correct(ref, from: from, times: times.sorted(), history: history) { values.maximum(of: ms, at: $0, older: older) }
        } catch {
            logger.warning("cannot read a scope's stored series to recompute it; will retry", metadata: ["scope": "\(ref.scope)", "error": "\(error)"])
            return false
        }
        scopeStates[id].newest = max(scopeStates[id].newest ?? .min, times.max() ?? .min)
        return true
    }

    /// The scope's series from `from` on, computed at `times` by `maximum`, corrected where
    /// they differ from what `history` stores (stored when a value changes, or a heartbeat
    /// after the last, as `derive` stores a level).
    func correct(_ ref: ScopeRef, from: EpochMillis, times: [EpochMillis], history: any SampleHistory,
                 maximum: (EpochMillis) -> Double?) throws -> [SeriesCorrection] {
        var out: [SeriesCorrection] = []
        var names: [String: SeriesName] = [:]
        var last: [String: Sample] = [:]
        var now: [String: [Sample]] = [:]
        for metric in ref.kind.outputMetrics {
            guard let name = try? SeriesName(sensor: ref.scope, metric: metric) else { return [] }
            names[metric] = name
            if let s = try history.lastStored(name, before: from) { last[metric] = s }
            now[metric] = []
        }
        for t in times {
            guard let v = maximum(t) else { continue }
            for (metric, value) in ref.kind.outputs(v) {
                // Stored when it changes, or a heartbeat after the last (as `derive` does).
                if let l = last[metric], l.value == value, t - l.time < Self.levelHeartbeat { continue }
                let s = Sample(time: t, value: value)
                now[metric, default: []].append(s)
                last[metric] = s
            }
        }
        for (metric, samples) in now.sorted(by: { $0.key < $1.key }) {
            guard let name = names[metric] else { continue }
            let before = try history.lastStored(name, before: from)
            setLastStored(name, last[metric])
            let was = try history.stored(name, from: from, to: .max)
            if !Self.sameInForce(was, samples, before: before) {
                out.append(SeriesCorrection(series: name, from: from, samples: samples))
            }
        }
        return out
    }

    private func junctionMembers(_ scope: String) -> [String] {
        guard scope.hasPrefix("junction.") else { return [] }
        return junctions[String(scope.dropFirst("junction.".count))] ?? []
    }
}

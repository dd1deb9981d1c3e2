import Telemetry

/// Late inputs (`DerivedFamily`). A reading older than one already seen of its family at its
/// station (any of the family's inputs: a pm10 reading of an hour whose AQI a pm2.5 reading
/// of a later hour has completed is late), or, seen first since the start, older than one
/// stored of the family or than a value the family stored, makes the family dirty. A dirty
/// family takes no readings; once every reading it derived before is stored
/// (`recomputeDirty`), it is recomputed from the stored inputs, from the earliest such time
/// on, as `collector verify` would (`DerivedReplay`), its trackers take the recompute's state,
/// and each of its outputs that differs gets a `SeriesCorrection` from that time on.
///
/// A restart feeding the journal again (`refeeding`) makes every family it touches dirty from
/// its earliest reading fed, and holds the recomputes until it ends: the rows not fed yet are
/// stored already, so a recompute in between would take them twice.
extension DerivedSeries {
    /// The families of `entry`'s station fed by this reading (`fed`: `DerivedFamily.fed` of its
    /// metric) that wait for a recompute, after noting whether the reading makes them so.
    func waitingFamilies(_ name: SeriesName, _ entry: SensorEntry, _ fed: FamilySet, _ t: EpochMillis,
                         history: any SampleHistory) -> FamilySet {
        var waiting = FamilySet()
        for f in fed {
            let key = FamilyKey(sensor: name.sensor, family: f)
            if refeeding {
                markDirty(key, from: t)
            } else if let newest = newestInput[key] {
                if t < newest { markDirty(key, from: t) } else { newestInput[key] = t }
            } else {
                firstSight(key, entry, t, history: history)
            }
            if !dirty.isEmpty && dirty[key] != nil { waiting.insert(f) }
        }
        return waiting
    }

    /// The first reading of a family since the start: late if a newer input of it is stored
    /// (and not still to come), or if it derived a value stored after it.
    private func firstSight(_ key: FamilyKey, _ entry: SensorEntry, _ t: EpochMillis, history: any SampleHistory) {
        var newest = t
        do {
            for metric in key.family.inputs(at: entry) {
                let name = try SeriesName(sensor: key.sensor, metric: metric)
                if let later = try history.history(name, from: t + 1, to: .max).last { newest = max(newest, later.time) }
            }
        } catch {
            logger.warning("cannot read an input's later readings; taking it as in time",
                           metadata: ["sensor": "\(key.sensor)", "error": "\(error)"])
        }
        newestInput[key] = newest
        if newest > t { return markDirty(key, from: t) }
        for output in key.family.outputs {
            guard let n = try? SeriesName(sensor: key.sensor, metric: output),
                  let stored = try? history.lastStored(n, before: .max), stored.time > t else { continue }
            return markDirty(key, from: t)
        }
    }

    /// From `t` on; for air quality from the start of the hour before `t`'s: the AQI of `t`'s
    /// hour is stamped at its start, and `t` may be the reading that completed the hour before
    /// (a start feeding the journal again may find that hour's AQI never stored).
    private func markDirty(_ key: FamilyKey, from t: EpochMillis) {
        let from = key.family == .air ? (EpochMillis.floorDiv(t, 3_600_000) - 1) * 3_600_000 : t
        if let known = dirty[key] {
            dirty[key] = (min(known.from, from), known.job, known.generation)
        } else {
            dirty[key] = (from, currentJob, generation + 1)
        }
    }

    /// Whether some family or scope waits for a recompute.
    public var hasDirtyFamilies: Bool { !dirty.isEmpty || !lateScopes.isEmpty }

    /// The earliest job (`currentJob` when it became dirty) of a family or scope waiting for
    /// its recompute: every derived reading of the jobs before it is made.
    public var earliestDirtyJob: Int64? {
        (dirty.values.compactMap(\.job) + lateScopes.values.compactMap(\.job)).min()
    }

    /// A restart feeds the journal again from here until `endRefeed`.
    public func beginRefeed() { refeeding = true }

    public func endRefeed() { refeeding = false }

    /// After a reload: the families still waiting for a recompute, the corrections not yet
    /// taken, the newest inputs seen and the take generations go on from `old` (its trackers
    /// do not: they are rebuilt from storage, as after a start).
    public func carryLateState(from old: DerivedSeries) {
        generation = old.generation
        corrections = old.corrections
        newestInput = old.newestInput
        refeeding = old.refeeding
        lateScopes = old.lateScopes
        scopeValues = old.scopeValues
        // (Each scope's newest time goes on; its members are looked up again in the new catalogue.)
        scopeStates = old.scopeStates.map { var s = $0; s.active = nil; s.touched = []; return s }
        scopeIndex = old.scopeIndex
        for (name, s) in old.lastStored where DerivedScope.isDerived(name.sensor) { lastStored[name] = s }
        for (key, d) in old.dirty {
            guard let entry = catalogue.sensor(key.sensor), !key.family.inputs(at: entry).isEmpty else { continue }
            dirty[key] = d
        }
    }

    /// Recomputes every dirty family whose derived readings so far are all stored: those of
    /// `take` generations up to `storedGeneration` are. `history` sees every committed
    /// reading handed to `observe` so far (and none still to come). The corrections wait for
    /// `takeCorrections`. Nothing while the journal is fed again.
    public func recomputeDirty(storedGeneration: Int, history: any SampleHistory) {
        guard !refeeding else { return }
        self.history = history
        defer { self.history = nil }
        for key in dirty.keys.sorted() {
            guard let d = dirty[key], d.generation <= storedGeneration else { continue }
            if recompute(key, from: d.from, history: history) { dirty[key] = nil }
        }
        // The scopes (their members' values are in memory: no waiting for storage).
        recomputeLateScopes(storedGeneration: storedGeneration, history: history)
    }

    /// Corrections made since the last call, for the caller to commit before any derived
    /// reading taken after them.
    public func takeCorrections() -> [SeriesCorrection] {
        defer { corrections.removeAll() }
        return corrections
    }

    /// Recomputes one family from `from` on; false when its series cannot be read (it stays
    /// dirty and is tried again).
    private func recompute(_ key: FamilyKey, from: EpochMillis, history: any SampleHistory) -> Bool {
        guard let entry = catalogue.sensor(key.sensor) else { return true }
        var inputs: [(name: SeriesName, samples: [Sample])] = []
        var stored: [SeriesName: [Sample]] = [:]
        do {
            for metric in key.family.inputs(at: entry) {
                let name = try SeriesName(sensor: key.sensor, metric: metric)
                inputs.append((name, try history.history(name, from: from, to: .max)))
            }
            for metric in key.family.outputs {
                let name = try SeriesName(sensor: key.sensor, metric: metric)
                stored[name] = try history.stored(name, from: from, to: .max)
            }
        } catch {
            logger.warning("cannot read a late input's series to recompute what it derives; will retry",
                           metadata: ["sensor": "\(key.sensor)", "error": "\(error)"])
            return false
        }
        let replay = DerivedReplay(catalogue: catalogue, config: config, timeZone: timeZone, logger: logger)
        let (other, out) = replay.run(inputs, from: from, stored: history, scopes: false)
        for (name, was) in stored.sorted(by: { $0.key.description < $1.key.description }) {
            // (Seeding may complete an hour before `from`: unchanged, and not replaced.)
            let now = (out[name] ?? []).filter { $0.time >= from }
            setLastStored(name, other.lastStoredSample(name))
            // The station's zone and unit follow (recomputed even when it is unchanged: a
            // start feeding the journal again may have left them behind).
            switch name.metric {
            case ScopeKind.fire.memberMetric: memberCorrected(.fire, key.sensor, from: from, now)
            case ScopeKind.flood.memberMetric: memberCorrected(.flood, key.sensor, from: from, now)
            default: break
            }
            // The same points (a value per reading or hour), or the same values in force from
            // `from` on (a level, a value "as of"): no correction.
            if DerivedVerifier.comparison(of: name) == .points {
                guard now != was else { continue }
            } else {
                let before = (try? history.lastStored(name, before: from)) ?? nil
                guard !Self.sameInForce(was, now, before: before) else { continue }
            }
            if was.isEmpty, (try? history.lastStored(name, before: .max)).flatMap({ $0 }).map({ $0.time < from }) ?? true {
                // Nothing stored from `from` on (an import's readings, derived for the first
                // time): plain derived readings.
                pending += now.map { Reading(series: name, time: $0.time, value: $0.value) }
            } else {
                corrections.append(SeriesCorrection(series: name, from: from, samples: now))
            }
        }
        adopt(key, from: other)
        newestInput[key] = max(newestInput[key] ?? .min, inputs.compactMap { $0.samples.last?.time }.max() ?? .min)
        return true
    }

    /// Whether two runs of a series from one time on hold the same value in force at every
    /// time either has a point (`before`: the value in force at their start): points a
    /// level repeats, or a heartbeat stored at another time, change nothing.
    static func sameInForce(_ a: [Sample], _ b: [Sample], before: Sample?) -> Bool {
        var i = 0, j = 0
        var va = before?.value, vb = before?.value
        while i < a.count || j < b.count {
            let t = min(i < a.count ? a[i].time : .max, j < b.count ? b[j].time : .max)
            while i < a.count && a[i].time == t { va = a[i].value; i += 1 }
            while j < b.count && b[j].time == t { vb = b[j].value; j += 1 }
            if va != vb { return false }
        }
        return true
    }

    /// The recompute's trackers of one family become this station's.
    private func adopt(_ key: FamilyKey, from other: DerivedSeries) {
        let k = station(key.sensor), o = other.station(key.sensor)
        let theirs = other.stations[o]
        switch key.family {
        case .rain:
            stations[k].rain24h = theirs.rain24h
            stations[k].rainyDays = theirs.rainyDays
            stations[k].tickedDays = nil
        case .fire:
            stations[k].fire = theirs.fire
            stations[k].lastFire = theirs.lastFire
            stations[k].fireTouched = nil
        case .river:
            break
        case .air:
            stations[k].air = theirs.air
        }
    }
}

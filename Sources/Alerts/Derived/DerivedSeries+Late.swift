import Telemetry

/// Late inputs (`DerivedFamily`): a reading older than one already seen of its series, or one
/// seen first since the start while its families have derived readings stored at or after it
/// (a restart feeding again what a killed run had derived from), makes the families it feeds
/// at its station dirty. A dirty family takes no readings; once every reading it derived
/// before is stored (`recomputeDirty`), it is recomputed from the stored inputs, from the
/// earliest such time on, as `collector verify` would (`DerivedReplay`), its trackers take the
/// recompute's state, and each of its outputs gets a `SeriesCorrection` from that time on.
extension DerivedSeries {
    /// The families of `entry`'s station fed by this reading that wait for a recompute,
    /// after noting whether the reading makes them so.
    func waitingFamilies(_ name: SeriesName, _ entry: SensorEntry, _ t: EpochMillis, history: any SampleHistory) -> FamilySet {
        let fed = DerivedFamily.fed(by: name.metric, at: entry)
        guard !fed.isEmpty else { return [] }
        if let newest = newestInput[name] {
            if t < newest {
                for f in fed { markDirty(FamilyKey(sensor: name.sensor, family: f), from: t) }
            } else {
                newestInput[name] = t
            }
        } else {
            firstSight(name, fed, t, history: history)
        }
        var waiting: FamilySet = []
        for f in fed where dirty[FamilyKey(sensor: name.sensor, family: f)] != nil { waiting.insert(f) }
        return waiting
    }

    /// The first reading of an input series since the start: late if a newer one of it is
    /// stored (and not still to come), or if a family it feeds has derived readings stored at
    /// or after it.
    private func firstSight(_ name: SeriesName, _ fed: FamilySet, _ t: EpochMillis, history: any SampleHistory) {
        var newest = t
        do {
            if let later = try history.history(name, from: t + 1, to: .max).last { newest = later.time }
        } catch {
            logger.warning("cannot read an input's later readings; taking it as in time",
                           metadata: ["series": "\(name)", "error": "\(error)"])
        }
        newestInput[name] = newest
        for f in fed {
            let key = FamilyKey(sensor: name.sensor, family: f)
            if newest > t { markDirty(key, from: t); continue }
            for output in f.outputs {
                guard let n = try? SeriesName(sensor: name.sensor, metric: output),
                      let stored = try? history.lastStored(n, before: .max), stored.time >= t else { continue }
                markDirty(key, from: t)
                break
            }
        }
    }

    /// From `t` on; for air quality from the start of `t`'s hour, where its hour's AQI is stamped.
    private func markDirty(_ key: FamilyKey, from t: EpochMillis) {
        let from = key.family == .air ? EpochMillis.floorDiv(t, 3_600_000) * 3_600_000 : t
        dirty[key] = min(dirty[key] ?? from, from)
    }

    /// After a reload: the families still waiting for a recompute, the corrections not yet
    /// taken, and the take generations go on from `old` (its trackers do not: they are
    /// rebuilt from storage, as after a start).
    public func carryLateState(from old: DerivedSeries) {
        generation = old.generation
        lastOutput = old.lastOutput
        corrections = old.corrections
        for (key, from) in old.dirty where catalogue.sensor(key.sensor) != nil { dirty[key] = from }
    }

    /// Whether some family waits for a recompute.
    public var hasDirtyFamilies: Bool { !dirty.isEmpty }

    /// Recomputes every dirty family whose derived readings so far are all stored: those of
    /// `take` generations up to `storedGeneration` are. `history` sees every committed
    /// reading handed to `observe` so far (and none still to come). The corrections wait for
    /// `takeCorrections`.
    public func recomputeDirty(storedGeneration: Int, history: any SampleHistory) {
        for key in dirty.keys.sorted() where lastOutput[key] ?? 0 <= storedGeneration {
            guard let from = dirty[key] else { continue }
            if recompute(key, from: from, history: history) { dirty[key] = nil }
        }
    }

    /// Corrections made since the last call, for the caller to commit before any derived
    /// reading taken after them.
    public func takeCorrections() -> [SeriesCorrection] {
        defer { corrections.removeAll() }
        return corrections
    }

    /// Recomputes one family from `from` on; false when its inputs cannot be read (it stays
    /// dirty and is tried again).
    private func recompute(_ key: FamilyKey, from: EpochMillis, history: any SampleHistory) -> Bool {
        guard let entry = catalogue.sensor(key.sensor) else { return true }
        var inputs: [(name: SeriesName, samples: [Sample])] = []
        do {
            for metric in key.family.inputs(at: entry) {
                let name = try SeriesName(sensor: key.sensor, metric: metric)
                inputs.append((name, try history.history(name, from: from, to: .max)))
            }
        } catch {
            logger.warning("cannot read a late input's series to recompute what it derives; will retry",
                           metadata: ["sensor": "\(key.sensor)", "error": "\(error)"])
            return false
        }
        let replay = DerivedReplay(catalogue: catalogue, config: config, timeZone: timeZone, logger: logger)
        let (other, out) = replay.run(inputs, from: from, stored: history)
        for metric in key.family.outputs {
            guard let name = try? SeriesName(sensor: key.sensor, metric: metric) else { continue }
            // (Seeding may complete an hour before `from`: unchanged, and not replaced.)
            corrections.append(SeriesCorrection(series: name, from: from, samples: (out[name] ?? []).filter { $0.time >= from }))
            lastStored[name] = other.lastStored[name]
        }
        lastOutput[key] = generation + 1
        adopt(key, from: other)
        for (name, samples) in inputs {
            if let last = samples.last { newestInput[name] = max(newestInput[name] ?? last.time, last.time) }
        }
        return true
    }

    /// The recompute's trackers of one family become this station's.
    private func adopt(_ key: FamilyKey, from other: DerivedSeries) {
        let s = key.sensor
        switch key.family {
        case .rain:
            rain24h[s] = other.rain24h[s]
            rainyDays[s] = other.rainyDays[s]
            tickedDays[s] = nil
            // (A station's first flood level also lists it in its scopes: left to `floodLevel`.)
            if latestFlood[s] != nil, let level = other.latestFlood[s] { latestFlood[s] = level }
        case .fire:
            fire[s] = other.fire[s]
            lastFire[s] = other.lastFire[s]
            fireTouched[s] = nil
            if let p = other.latestFireP[s] { latestFireP[s] = p }
        case .river:
            break
        case .air:
            air[s] = other.air[s]
        }
    }
}

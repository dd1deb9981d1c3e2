import Alerts
import Foundation
import Logging
import Telemetry

/// Runs on the alert worker's thread (`AlertWorker`) after each commit: feeds committed
/// readings to the alert engine, ticks it once a second, stores what changed, and publishes alerts on MQTT
/// (`alerts/<severity>/<rule>/<subject>`, QoS 1, retained while firing, cleared when resolved).
final class AlertStage {
    var engine: AlertEngine
    let store: any AlertRecords
    /// Changes the store refused (it did not answer), in order: stored before any later
    /// change, once it answers (at most `maxUnstored`, the oldest dropped beyond).
    var unstored: [AlertEvent] = []
    static let maxUnstored = 10_000
    /// When the store was last tried for them (at most once a second).
    var lastStoreRetry: EpochMillis = 0
    /// The engine's live alerts are to be taken from the store when it answers
    /// (`adoptStored`): it did not answer at start, or at a takeover.
    var adoptionPending = false
    let logger: Logger
    private var lastTick: EpochMillis = 0
    private var lastCoverage: EpochMillis = 0
    private var lastCount: EpochMillis = 0
    private var catalogue: Catalogue
    private let coverage: CollectorConfig.CoverageConfig
    private let derivedConfig: DerivedConfig
    private let timeZone: TimeZoneID
    /// Called every second with the number of (pending, firing) alerts, system alerts included.
    var alertCounts: (Int, Int) -> Void = { _, _ in }
    /// Called with (indicator, scope, value) for every computed coverage indicator.
    var gauge: (String, String, Double) -> Void = { _, _, _ in }
    /// Called when this collector stops computing coverage (the province lease went to
    /// another): the gauges it showed are withdrawn.
    var clearGauges: () -> Void = {}
    /// Whether coverage gauges are shown (set since the last `clearGauges`).
    private var showsCoverage = false
    /// Whether this collector computes the coverage indicators now: with a shared store and
    /// partitions, only the province lease's holder does (nil: always).
    var computesCoverage: (() -> Bool)?
    /// The newest reading of every sensor in the shared store (what every collector of it has
    /// committed), for coverage over the whole province; nil without a shared store.
    var sharedLastSeen: (() throws -> [String: EpochMillis])?
    /// Fire danger, rain, floods, air, power and traffic series computed from readings.
    private(set) var derived: DerivedSeries
    /// Every state change also goes to the Server-Sent-Events feed.
    var broadcaster: AlertBroadcaster?
    /// Webhooks and Alertmanagers.
    var notifiers: Notifiers?
    /// Alerts about the collector itself (storage).
    var system: SystemAlerts?
    /// The alert store is shared with other collectors (`PostgresAlertStore`): taking a
    /// partition over adopts its live alerts from there.
    var sharedAlerts = false
    /// With partitions on a shared store: the province-wide scopes (`DerivedScope.provincePrefixes`)
    /// are the province lease's holder's, their maxima computed from the shared store and
    /// their alerts adopted with the lease (nil: each collector computes its own).
    var sharedScopes: SharedScopes? {
        didSet { derived.computesScopes = sharedScopes == nil }
    }
    /// Whether this collector held the province at the last tick (its scopes' alerts adopted).
    var heldProvince = false
    /// The province-wide scopes' live alerts are still to be adopted (the store did not answer).
    var provinceAdoptionPending = false
    /// When the province's holder last looked for changed scope members (`.min`: look now).
    var lastScopes: EpochMillis = 0
    /// The fence of the province lease while this collector holds it (with a commit's margin).
    var provinceFence: (() -> PostgresStore.Fence?)?
    /// With partitions over a shared store: the leases' fences this collector holds now, which
    /// alert changes are written under (`AlertFence`; nil: nothing to check).
    var alertFence: (() -> AlertFence)?
    /// The fences `unstored` was decided under: it is stored under those or not at all.
    var unstoredFence: AlertFence?
    /// Corrections of province-wide scopes stored in the shared store, for the rules and this
    /// collector's file (`takeCorrections`).
    var scopeCorrections: [SeriesCorrection] = []
    /// Over a shared alert store, whether the partition's rules run here (this collector
    /// holds the partition): a standby's engine raises nothing, its readings (a journal
    /// refeed at start, HTTP writes) are the holder's to judge, or were.
    var rulesActive = false
    /// The time of the latest change the stage handled (what a late store records as `updated`).
    var engineNow: EpochMillis = 0

    /// How often the province's holder looks for changed scope members.
    static let scopeIntervalMillis: EpochMillis = 5_000
    /// Per series id, where its sensor is in the catalogue: 0 not looked up yet, -1 not
    /// catalogued, -2 a derived scope with an entry of its own, k + 1 `catalogue.sensors[k]`.
    /// (A reading then finds its entry without hashing the sensor's name.)
    private var entryOfID: ContiguousArray<Int32> = []
    /// The catalogue's entries as optionals, then a nil: a reading's entry is passed on from
    /// here as it is, not copied into an optional (a copy retains every field of it).
    private var entries: [SensorEntry?] = []

    /// Called with (topic, payload, retain) for every message to publish.
    var publish: (String, [UInt8], Bool) -> Void = { _, _, _ in }

    init(engine: AlertEngine, store: any AlertRecords, catalogue: Catalogue, coverage: CollectorConfig.CoverageConfig,
         derived: DerivedConfig, timeZone: TimeZoneID, logger: Logger) {
        self.derived = DerivedSeries(catalogue: catalogue, config: derived, timeZone: timeZone, logger: logger)
        derivedConfig = derived
        self.engine = engine
        self.store = store
        self.catalogue = catalogue
        self.coverage = coverage
        self.timeZone = timeZone
        self.logger = logger
    }

    /// Where a reading's catalogue entry is in `entries` (the last, nil, for a sensor not
    /// catalogued), and whether it is a derived scope with an entry of its own
    /// (`DerivedSeries.scopeEntry`).
    private func entryOf(_ id: SeriesID, _ name: SeriesName) -> (index: Int, scope: Bool) {
        let i = id.index
        if i >= entryOfID.count { entryOfID.append(contentsOf: repeatElement(0, count: i + 1 - entryOfID.count)) }
        if entryOfID[i] == 0 {
            if let k = catalogue.index(ofSensor: name.sensor) { entryOfID[i] = Int32(k + 1) }
            else { entryOfID[i] = derived.scopeEntry(name.sensor) != nil ? -2 : -1 }
        }
        let k = entryOfID[i]
        return k > 0 ? (Int(k) - 1, false) : (catalogue.sensors.count, k == -2)
    }

    /// The new readings of a successful commit; `names` holds every series' name by id.
    func committed(_ readings: [BoundReading], names: [SeriesName], history: any SampleHistory, now: EpochMillis,
                   journalID: Int64? = nil) {
        guard !readings.isEmpty else { return }   // even without rules: last-seen feeds coverage
        derived.currentJob = journalID
        var events: [AlertEvent] = []
        if entries.count != catalogue.sensors.count + 1 { entries = catalogue.sensors.map { $0 } + [nil] }
        // Locals: a class's property read in the loop is retained and released at each use.
        let entries = entries, derived = derived, engine = engine, everything = !sharedAlerts
        for r in readings {
            let name = names[r.series.index]
            let (k, scope) = entryOf(r.series, name)
            derived.observe(name, entries[k], r, history: history, now: now)
            guard everything || evaluates(name.sensor) else { continue }
            let sample = Sample(time: r.time, value: r.value)
            events += scope
                ? engine.observe(id: r.series, series: name, sample: sample, now: now, entry: derived.scopeEntry(name.sensor)) {
                    history.recent(r.series)
                }
                : engine.observe(id: r.series, series: name, sample: sample, now: now, entry: entries[k]) {
                    history.recent(r.series)
                }
        }
        handle(events, now: now)
        derived.finishBatch()
    }

    /// A new catalogue and rules (SIGHUP), between two batches. Live alerts of rules that still
    /// exist carry on with their state; those of removed rules are resolved. Derived-series
    /// trackers start again from storage, as after a restart.
    func reload(catalogue: Catalogue, rules: [Rule], now: EpochMillis) {
        let names = Set(rules.map(\.name))
        let kept = engine.liveAlerts.filter { names.contains($0.rule) }
        let dropped = engine.liveAlerts.filter { !names.contains($0.rule) }
        engine = AlertEngine(rules: rules, catalogue: catalogue, restored: kept, lastSeen: engine.lastSeen, now: now,
                             language: engine.language)
        let old = derived
        derived = DerivedSeries(catalogue: catalogue, config: derivedConfig, timeZone: timeZone, logger: logger)
        derived.computesScopes = sharedScopes == nil
        derived.carryLateState(from: old)
        self.catalogue = catalogue
        entryOfID.removeAll()
        entries.removeAll()
        handle(dropped.map { a in
            var r = a
            r.state = "resolved"
            r.since = now
            r.summary = a.summary + " (rule removed)"
            return AlertEvent(action: .resolve, alert: r)
        }, now: now)
    }

    /// After each commit attempt: raises or resolves `storage-failing`. Not stored (storage may
    /// be what fails); announced on SSE, to notifiers, in the log and, when it can, on MQTT.
    func storage(ok: Bool, reason: String, subject: String, now: EpochMillis) {
        guard let e = system?.storage(ok: ok, reason: reason, subject: subject, now: now) else { return }
        broadcaster?.send(String(decoding: AlertJSON.encode(e.alert).bytes, as: UTF8.self))
        notifiers?.changed(e.alert, now: now)
        if e.action == .fire {
            logger.critical("alert firing", metadata: ["rule": "\(e.alert.rule)", "summary": "\(e.alert.summary)"])
            publish(e.alert.topic, AlertJSON.encode(e.alert).bytes, true)
        } else {
            logger.notice("alert resolved", metadata: ["rule": "\(e.alert.rule)"])
            publish(e.alert.topic, AlertJSON.encode(e.alert).bytes, false)
            publish(e.alert.topic, [], true)
        }
    }

    /// After (re)connecting to the broker: every firing alert is published again (retained),
    /// so one that fired while the broker was unreachable is not missing from `alerts/#`.
    func republishFiring() {
        for a in engine.liveAlerts + (system?.all ?? []) where a.state == "firing" {
            publish(a.topic, AlertJSON.encode(a).bytes, true)
        }
    }

    /// Derived readings waiting to be committed, taken by the caller.
    func takeDerived() -> [Reading] { derived.take() }

    /// The take generation the last `takeDerived` reached (`DerivedSeries.generation`).
    var derivedGeneration: Int { derived.generation }

    /// Whether a derived family waits for a late input's recompute.
    var hasDirtyFamilies: Bool { derived.hasDirtyFamilies }

    /// The earliest journal row whose late inputs still wait for their recompute.
    var earliestDirtyJob: Int64? { derived.earliestDirtyJob }

    /// A restart feeds the journal again (`DerivedSeries.beginRefeed`), or has done so.
    func refeed(_ starts: Bool) { if starts { derived.beginRefeed() } else { derived.endRefeed() } }

    /// Recomputes the derived families that late inputs made dirty, once every derived
    /// reading of theirs up to take generation `storedGeneration` is stored.
    func settle(storedGeneration: Int, history: any SampleHistory) {
        derived.recomputeDirty(storedGeneration: storedGeneration, history: history)
    }

    /// The corrections made since the last call, for the caller to commit. The rules see each
    /// corrected series' newest value now (its earlier ones are history: no alert is raised
    /// or resolved for a time already past).
    func takeCorrections(now: EpochMillis) -> [SeriesCorrection] {
        let corrections = derived.takeCorrections() + scopeCorrections
        scopeCorrections = []
        var events: [AlertEvent] = []
        for c in corrections {
            guard let last = c.samples.last, evaluates(c.series.sensor) else { continue }
            let entry = catalogue.sensor(c.series.sensor) ?? derived.scopeEntry(c.series.sensor)
            events += engine.observe(series: c.series, sample: last, now: now, entry: entry) { c.samples.suffix(128) }
        }
        handle(events, now: now)
        return corrections
    }

    /// Once per loop iteration; ticks the engine at most once a second. Returns derived
    /// readings (coverage indicators, every `coverage.interval`) for the caller to commit.
    /// `partition`: this collector ingests its partition (not a standby): rule timers and
    /// time-driven derived series run. Coverage runs where `computesCoverage` says (without
    /// it, with the partition).
    func tick(now: EpochMillis, history: any SampleHistory, partition: Bool = true) -> [Reading] {
        if partition && !engine.rules.isEmpty && now - lastTick >= 1000 {
            lastTick = now
            handle(engine.tick(now: now), now: now)
            notifiers?.resend(firing: engine.liveAlerts.filter { $0.state == "firing" }, now: now)
        } else if !partition && sharedScopes != nil && heldProvince && !provinceAdoptionPending && !engine.rules.isEmpty && now - lastTick >= 1000 {
            // The province's holder on a partition's standby: the province-wide scopes' timers.
            lastTick = now
            let wide: (Alert) -> Bool = { DerivedScope.isProvinceWide($0.subject) }
            handle(engine.tick(now: now, only: wide), now: now)
            notifiers?.resend(firing: engine.liveAlerts.filter { $0.state == "firing" && wide($0) }, now: now)
        }
        let holdsProvince = computesCoverage?() ?? partition
        if !holdsProvince && showsCoverage {
            showsCoverage = false
            clearGauges()
        }
        if let sharedScopes { province(holds: holdsProvince, scopes: sharedScopes, now: now) }
        if (adoptionPending || !unstored.isEmpty) && now - lastStoreRetry >= 1000 {
            lastStoreRetry = now
            engineNow = now
            if adoptionPending { adoptStored() } else { _ = storeUnstored() }
        }
        if partition && now - lastCount >= 1000 {
            lastCount = now
            let live = engine.liveAlerts + (system?.all ?? [])
            alertCounts(live.count { $0.state == "pending" }, live.count { $0.state == "firing" })
        }
        guard !catalogue.sensors.isEmpty, now - lastCoverage >= coverage.intervalMillis else { return [] }
        lastCoverage = now
        var out: [Reading] = []
        if partition {
            derived.tick(now: now, lastSeen: engine.lastSeen, history: history)
            out = derived.take()
        }
        guard holdsProvince else { return out }
        var lastSeen = engine.lastSeen
        if let sharedLastSeen {
            // Coverage from this collector's sensors alone would count every other partition's
            // as silent: the interval passes without indicators rather than store those.
            do { lastSeen.merge(try sharedLastSeen(), uniquingKeysWith: max) } catch {
                logger.warning("cannot read the shared store's last readings; coverage not computed this time", metadata: ["error": "\(error)"])
                return out
            }
        }
        if sharedScopes != nil {
            // Partitions: the transformers' silent meters from the province's newest readings
            // (a partition would count another's meters as silent).
            derived.tickTransformers(now: now, lastSeen: lastSeen)
            out += derived.take()
        }
        // The units' figures, then each declared level's groups (the province once).
        var indicators: [CoverageIndicator] = []
        for level in [Catalogue.unitLevel] + catalogue.levels.map(\.id) {
            indicators += CoverageCalculator.compute(catalogue, lastSeen: lastSeen, now: now,
                                                     year: Self.year(now, timeZone), targets: coverage.targets,
                                                     water: Array(derived.waterDays.values), level: level)
                .filter { level == Catalogue.unitLevel || $0.scope != "province" }
        }
        showsCoverage = showsCoverage || !indicators.isEmpty
        for i in indicators {
            gauge(i.indicator, i.scope, i.valuePct)
            if let name = i.series { out.append(Reading(series: name, time: now, value: i.valuePct)) }
        }
        return out
    }

    static func year(_ t: EpochMillis, _ tz: TimeZoneID) -> Int {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz.zone
        return cal.component(.year, from: Date(timeIntervalSince1970: Double(t) / 1000))
    }

    private func handle(_ events: [AlertEvent], now: EpochMillis) {
        guard !events.isEmpty else { return }
        engineNow = now
        let stored: [AlertEvent]
        let fence = alertFence?()
        do {
            // (While earlier changes wait, the store is tried at most once a second, in `tick`.)
            guard unstored.isEmpty else { throw StoreStillRefuses() }
            stored = try fence.map { try store.apply(events, now: now, fence: $0) } ?? store.apply(events, now: now)
        } catch is StoreStillRefuses {
            unstored += events
            trimUnstored()
            stored = events
        } catch let e as PostgresConnection.Failure where e.lostConnection {
            // The shared store does not answer: announced now, stored (in order, before any
            // later change) once it does.
            logger.error("cannot store alert changes; announcing them now, storing them once the store answers",
                         metadata: ["error": "\(e)"])
            if unstored.isEmpty { unstoredFence = fence }
            unstored += events
            trimUnstored()
            stored = events
        } catch let e as PartitionFence.Stale {
            // Fenced out: another collector holds the lease now and answers for these alerts.
            logger.warning("alert changes neither stored nor announced: a newer holder has written", metadata: ["error": "\(e)"])
            return
        } catch let e as AlertFence.NotHolder {
            logger.warning("alert changes neither stored nor announced: the lease is not held", metadata: ["error": "\(e)"])
            return
        } catch {
            // Refused for what they are (or the file fails): trying again would not help.
            logger.error("cannot store alert changes; announcing them anyway", metadata: ["error": "\(error)"])
            stored = events
        }
        for e in stored where e.action != .none {
            broadcaster?.send(String(decoding: AlertJSON.encode(e.alert).bytes, as: UTF8.self))
        }
        for e in stored {
            switch e.action {
            case .fire:
                if let previous = e.previousSeverity {
                    // The topic names the severity: the old retained message goes.
                    logger.notice("alert severity changed", metadata: ["rule": "\(e.alert.rule)", "subject": "\(e.alert.subject)",
                                                                      "from": "\(previous.rawValue)", "to": "\(e.alert.severity.rawValue)"])
                    var old = e.alert
                    old.severity = previous
                    publish(old.topic, [], true)
                } else {
                    logger.notice("alert firing", metadata: ["rule": "\(e.alert.rule)", "subject": "\(e.alert.subject)", "summary": "\(e.alert.summary)"])
                }
                publish(e.alert.topic, AlertJSON.encode(e.alert).bytes, true)
                notifiers?.changed(e.alert, previousSeverity: e.previousSeverity, now: now)
            case .resolve:
                logger.notice("alert resolved", metadata: ["rule": "\(e.alert.rule)", "subject": "\(e.alert.subject)"])
                publish(e.alert.topic, AlertJSON.encode(e.alert).bytes, false)
                publish(e.alert.topic, [], true)
                notifiers?.changed(e.alert, now: now)
            case .pending, .cancel, .none:
                break
            }
        }
    }
}

/// The JSON form of an alert, shared by MQTT and HTTP.
enum AlertJSON {
    static func encode(_ a: Alert) -> JSONText {
        var j = JSONText()
        write(a, into: &j)
        return j
    }

    static func write(_ a: Alert, into j: inout JSONText) {
        j.object {
            $0.field("id") { if let id = a.id { $0.int(id) } else { $0.null() } }
            $0.field("rule") { $0.string(a.rule) }
            $0.field("subject") { $0.string(a.subject) }
            $0.field("severity") { $0.string(a.severity.rawValue) }
            $0.field("state") { $0.string(a.state) }
            $0.field("since") { $0.seconds(a.since) }
            $0.field("value") { if let v = a.value { $0.double(v) } else { $0.null() } }
            $0.field("value_t") { if let t = a.valueTime { $0.seconds(t) } else { $0.null() } }
            $0.field("summary") { $0.string(a.summary) }
            $0.field("summary_en") { $0.string(a.summaryEn ?? a.summary) }
            $0.field("summary_vi") { if let v = a.summaryVi { $0.string(v) } else { $0.null() } }
            $0.field("unit") { if let u = a.unit { $0.string(u) } else { $0.null() } }
            $0.field("zone") { if let z = a.zone { $0.string(z) } else { $0.null() } }
            $0.field("acknowledged") { $0.bool(a.acknowledgedBy != nil) }
            if let by = a.acknowledgedBy {
                $0.field("acknowledged_by") { $0.string(by) }
                $0.field("acknowledged_at") { if let t = a.acknowledgedAt { $0.seconds(t) } else { $0.null() } }
                $0.field("note") { if let n = a.note { $0.string(n) } else { $0.null() } }
            }
        }
    }
}

import Alerts
import Foundation
import Logging
import Telemetry

/// Runs on the ingest thread after each commit: feeds committed readings to the alert
/// engine, ticks it once a second, stores what changed, and publishes alerts on MQTT
/// (`alerts/<severity>/<rule>/<subject>`, QoS 1, retained while firing, cleared when resolved).
final class AlertStage {
    private let engine: AlertEngine
    private let store: AlertStore
    private let logger: Logger
    private var lastTick: EpochMillis = 0
    private var lastCoverage: EpochMillis = 0
    private let catalogue: Catalogue
    private let coverage: CollectorConfig.CoverageConfig
    private let timeZone: TimeZoneID
    /// Called with (indicator, scope, value) for every computed coverage indicator.
    var gauge: (String, String, Double) -> Void = { _, _, _ in }
    private var fire: [String: FireDangerTracker] = [:]
    private var rain24h: [String: RollingSum] = [:]
    private var lastDerived: [String: (time: EpochMillis, day: EpochMillis)] = [:]
    private var pendingDerived: [Reading] = []
    private var lastDerivedTime: [String: EpochMillis] = [:]
    /// The newest fire-danger P of each station (for zone and district maxima).
    private var latestFireP: [String: Double] = [:]
    /// Every state change also goes to the Server-Sent-Events feed.
    var broadcaster: AlertBroadcaster?
    /// Called with (topic, payload, retain) for every message to publish.
    var publish: (String, [UInt8], Bool) -> Void = { _, _, _ in }

    init(engine: AlertEngine, store: AlertStore, catalogue: Catalogue, coverage: CollectorConfig.CoverageConfig,
         timeZone: TimeZoneID, logger: Logger) {
        self.engine = engine
        self.store = store
        self.catalogue = catalogue
        self.coverage = coverage
        self.timeZone = timeZone
        self.logger = logger
    }

    /// After a successful commit.
    func committed(_ readings: [BoundReading], telemetry: TelemetryStore, now: EpochMillis) {
        guard !readings.isEmpty else { return }   // even without rules: last-seen feeds coverage
        var events: [AlertEvent] = []
        var touched: [String: (day: EpochMillis, time: EpochMillis)] = [:]
        for r in readings {
            let name = telemetry.registry.name(of: r.series)
            let entry = catalogue.sensor(name.sensor)
            if name.metric == "rain_mm" {
                var w = rain24h[name.sensor] ?? seededRain(name, before: r.time, batch: readings, telemetry: telemetry)
                w.add(Sample(time: r.time, value: r.value))
                rain24h[name.sensor] = w
                if let newest = w.newest { derive(name.sensor, "rain_24h_mm", time: newest, value: (w.sum * 100).rounded() / 100) }
            }
            if name.metric == "level_m", let levels = entry?.alarmLevelsM {
                derive(name.sensor, "water_alarm_level", time: r.time, value: Double(WaterAlarm.level(r.value, levels: levels)))
                if let rise = WaterAlarm.risePerHour(Sample(time: r.time, value: r.value), recent: telemetry.recent(r.series)) {
                    derive(name.sensor, "level_rise_m_h", time: r.time, value: (rise * 1000).rounded() / 1000)
                }
            }
            if FireDangerStage.inputs.contains(name.metric), entry?.kind == .forest {
                var tracker = fire[name.sensor] ?? seededFireDanger(name.sensor, at: r.time, batch: readings, telemetry: telemetry)
                if let day = tracker.record(metric: name.metric, time: r.time, value: r.value) {
                    let prev = touched[name.sensor]
                    touched[name.sensor] = (max(day, prev?.day ?? day), max(r.time, prev?.time ?? r.time))
                }
                fire[name.sensor] = tracker
            }
            events += engine.observe(series: name, sample: Sample(time: r.time, value: r.value), now: now, entry: .some(entry)) {
                telemetry.recent(r.series)
            }
        }
        handle(events, now: now)
        for (sensor, t) in touched { deriveFireDanger(sensor, day: t.day, time: t.time) }
    }

    /// `fire_danger_p` and `fire_danger_level` of a forest station: for the newest day known,
    /// at the triggering reading's time (kept strictly increasing per station, so an update
    /// never collides with the (series, time) dedupe).
    private func deriveFireDanger(_ sensor: String, day: EpochMillis, time: EpochMillis) {
        guard let tracker = fire[sensor] else { return }
        let prev = lastDerived[sensor]
        let currentDay = max(day, prev?.day ?? day)
        let t = max(time, (prev?.time ?? .min) + 1)
        lastDerived[sensor] = (t, currentDay)
        let p = (tracker.p(on: currentDay) * 10).rounded() / 10
        if let pName = try? SeriesName(sensor: sensor, metric: "fire_danger_p"),
           let lName = try? SeriesName(sensor: sensor, metric: "fire_danger_level") {
            pendingDerived.append(Reading(series: pName, time: t, value: p))
            pendingDerived.append(Reading(series: lName, time: t, value: Double(FireDanger.level(p))))
        }
        // Zone and district: the maximum over their stations (those heard from since start).
        latestFireP[sensor] = p
        guard let entry = catalogue.sensor(sensor) else { return }
        var scopes: [(String, (SensorEntry) -> Bool)] = [("district.\(entry.district)", { $0.district == entry.district })]
        if let zone = entry.zone { scopes.append(("zone.\(zone)", { $0.zone == zone })) }
        for (scope, member) in scopes {
            let maxP = catalogue.sensors.filter { $0.kind == .forest && member($0) }.compactMap { latestFireP[$0.id] }.max() ?? p
            derive(scope, "fire_danger_p", time: t, value: maxP)
            derive(scope, "fire_danger_level", time: t, value: Double(FireDanger.level(maxP)))
        }
    }

    /// A fire-danger tracker for a station first seen since start: it continues from the last
    /// stored `fire_danger_p` before the reading's day, with that day's stored inputs replayed,
    /// so a restart does not reset a dry spell's index to zero.
    private func seededFireDanger(_ sensor: String, at t: EpochMillis, batch: [BoundReading],
                                  telemetry: TelemetryStore) -> FireDangerTracker {
        var tracker = FireDangerTracker(timeZone: timeZone.zone)
        let day = tracker.dayStart(t)
        do {
            if let pName = try? SeriesName(sensor: sensor, metric: "fire_danger_p"),
               let last = try telemetry.lastSample(pName, before: day) {
                tracker.seed(p: last.value, before: day)
                lastDerived[sensor] = (last.time, tracker.dayStart(last.time))
            } else {
                tracker.seed(p: 0, before: day)
            }
            for metric in FireDangerStage.inputs {
                guard let n = try? SeriesName(sensor: sensor, metric: metric) else { continue }
                // The batch being handled is already stored and is fed by the caller: skip it.
                let inBatch = Self.times(of: n, in: batch, telemetry)
                for s in try telemetry.samples(n, from: day, to: .max) where !inBatch.contains(s.time) {
                    tracker.record(metric: metric, time: s.time, value: s.value)
                }
            }
        } catch {
            logger.warning("cannot rebuild the fire-danger index from storage; starting from this reading",
                           metadata: ["sensor": "\(sensor)", "error": "\(error)"])
        }
        return tracker
    }

    /// The 24 h rain window of a station first seen since start, from its stored readings.
    private func seededRain(_ name: SeriesName, before t: EpochMillis, batch: [BoundReading], telemetry: TelemetryStore) -> RollingSum {
        var w = RollingSum(window: 86_400_000)
        let inBatch = Self.times(of: name, in: batch, telemetry)
        let stored = (try? telemetry.samples(name, from: t - 86_400_000 + 1, to: t)) ?? []
        for s in stored where !inBatch.contains(s.time) { w.add(s) }
        return w
    }

    private static func times(of name: SeriesName, in batch: [BoundReading], _ telemetry: TelemetryStore) -> Set<EpochMillis> {
        guard let id = telemetry.registry.id(of: name) else { return [] }
        return Set(batch.lazy.filter { $0.series == id }.map(\.time))
    }

    /// One derived reading, at a time strictly after the series' previous one.
    private func derive(_ sensor: String, _ metric: String, time: EpochMillis, value: Double) {
        guard let name = try? SeriesName(sensor: sensor, metric: metric) else { return }
        let key = sensor + "/" + metric
        let t = max(time, (lastDerivedTime[key] ?? .min) + 1)
        lastDerivedTime[key] = t
        pendingDerived.append(Reading(series: name, time: t, value: value))
    }

    /// Derived readings waiting to be committed (fire danger, rain, water levels), taken by the caller.
    func takeDerived() -> [Reading] {
        defer { pendingDerived.removeAll(keepingCapacity: true) }
        return pendingDerived
    }

    /// Once per loop iteration; ticks the engine at most once a second. Returns derived
    /// readings (coverage indicators, every `coverage.interval`) for the caller to commit.
    func tick(now: EpochMillis) -> [Reading] {
        if !engine.rules.isEmpty && now - lastTick >= 1000 {
            lastTick = now
            handle(engine.tick(now: now), now: now)
        }
        guard !catalogue.sensors.isEmpty, now - lastCoverage >= coverage.intervalMillis else { return [] }
        lastCoverage = now
        let indicators = CoverageCalculator.compute(catalogue, lastSeen: engine.lastSeen, now: now,
                                                    year: Self.year(now, timeZone), targets: coverage.targets)
        var derived: [Reading] = []
        for i in indicators {
            gauge(i.indicator, i.scope, i.valuePct)
            if let name = i.series { derived.append(Reading(series: name, time: now, value: i.valuePct)) }
        }
        return derived
    }

    static func year(_ t: EpochMillis, _ tz: TimeZoneID) -> Int {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz.zone
        return cal.component(.year, from: Date(timeIntervalSince1970: Double(t) / 1000))
    }

    private func handle(_ events: [AlertEvent], now: EpochMillis) {
        guard !events.isEmpty else { return }
        let stored: [AlertEvent]
        do {
            stored = try store.apply(events, now: now)
        } catch {
            logger.error("cannot store alert changes; announcing them anyway", metadata: ["error": "\(error)"])
            stored = events
        }
        for e in stored where e.action != .none {
            broadcaster?.send(String(decoding: AlertJSON.encode(e.alert).bytes, as: UTF8.self))
        }
        for e in stored {
            switch e.action {
            case .fire:
                logger.notice("alert firing", metadata: ["rule": "\(e.alert.rule)", "subject": "\(e.alert.subject)", "summary": "\(e.alert.summary)"])
                publish(e.alert.topic, AlertJSON.encode(e.alert).bytes, true)
            case .resolve:
                logger.notice("alert resolved", metadata: ["rule": "\(e.alert.rule)", "subject": "\(e.alert.subject)"])
                publish(e.alert.topic, AlertJSON.encode(e.alert).bytes, false)
                publish(e.alert.topic, [], true)
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
            $0.field("acknowledged") { $0.bool(a.acknowledgedBy != nil) }
            if let by = a.acknowledgedBy {
                $0.field("acknowledged_by") { $0.string(by) }
                $0.field("acknowledged_at") { if let t = a.acknowledgedAt { $0.seconds(t) } else { $0.null() } }
                $0.field("note") { if let n = a.note { $0.string(n) } else { $0.null() } }
            }
        }
    }
}

/// Names of the readings the fire-danger index is built from.
enum FireDangerStage {
    static let inputs: Set<String> = ["temp_c", "rh_pct", "rain_mm"]
}

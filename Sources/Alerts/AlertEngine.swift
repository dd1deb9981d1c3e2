import Foundation
import Telemetry

/// Evaluates rules against readings as they are committed, and against time (silences,
/// pending timers). Cost per reading: O(rules that can match its metric). One thread owns it.
public final class AlertEngine {
    public let rules: [Rule]
    /// The same rules behind references: evaluating one borrows it instead of copying the
    /// struct (and retaining each of its strings) per reading.
    private let compiled: [CompiledRule]

    private final class CompiledRule {
        let rule: Rule
        init(_ rule: Rule) { self.rule = rule }
    }
    private let catalogue: Catalogue
    /// The language of `Alert.summary`.
    public let language: SummaryLanguage
    /// Rules naming a metric but no sensor, by metric.
    private var byMetric: [String: [Int]] = [:]
    /// Rules naming a sensor and a metric, by series: a reading only meets the rules that
    /// can match it.
    private var bySeries: [SeriesName: [Int]] = [:]
    private var anyMetric: [Int] = []
    private var silenceRules: [Int] = []

    private struct Key: Hashable {
        var rule: Int
        var subject: String
    }

    private struct Live {
        var machine: AlertStateMachine
        /// The alert; while `unrendered` is set, its summaries are those of an earlier reading.
        var alert: Alert
        var lastHolds: Bool
        /// The reading whose summaries are not rendered yet: a live alert takes every reading
        /// of its series, and its text is only read when announced or listed.
        var unrendered: Unrendered?
    }

    private struct Unrendered {
        var rule: Int
        var value: Double?
        var entry: SensorEntry?
        var series: SeriesName?
    }

    /// `l`'s alert with its summaries rendered for its latest reading.
    private func rendered(_ l: Live) -> Alert {
        var a = l.alert
        guard let u = l.unrendered else { return a }
        let rule = rules[u.rule]
        let en = Self.render(rule.summary, rule, value: u.value, entry: u.entry, series: u.series, subject: a.subject,
                             unit: a.unit, zone: a.zone, catalogue: catalogue)
        let vi = rule.summaryVi.isEmpty ? nil
            : Self.render(rule.summaryVi, rule, value: u.value, entry: u.entry, series: u.series, subject: a.subject,
                          unit: a.unit, zone: a.zone, catalogue: catalogue, decimalComma: true)
        a.summaryEn = en
        a.summaryVi = vi
        a.summary = language == .vi ? vi ?? en : en
        return a
    }

    /// Renders `l`'s summaries now (before its alert is announced).
    private func render(_ l: inout Live) {
        guard l.unrendered != nil else { return }
        l.alert = rendered(l)
        l.unrendered = nil
    }

    private var live: [Key: Live] = [:]
    /// Live alerts per rule: a reading for which a rule does not hold, with none of that
    /// rule's alerts live, needs no state lookup at all (the quiet common case).
    private var liveCount: [Int]
    /// Newest reading time per sensor (what health and silences are judged by). Readings
    /// observed by series id are folded in when this is read.
    public var lastSeen: [String: EpochMillis] {
        foldSeen()
        return seen
    }
    private var seen: [String: EpochMillis] = [:]

    /// Per series id, the rules that can match it: an index into `plans`, plus one (0: not
    /// worked out yet). A rule's match depends only on the series and its catalogue entry, so
    /// a reading of a known series finds its rules without hashing its name; series with the
    /// same rules share one list. With the last-seen times below, 13 bytes a series.
    private var planOfID: ContiguousArray<Int32> = []
    private var plans: [[Int]] = []
    private var planIndex: [[Int]: Int32] = [:]
    /// Newest reading time per series id, and the ids newer than `seen` says (with their
    /// sensor), folded into `seen` when it is read.
    private var seenOfID: ContiguousArray<EpochMillis> = []
    private var seenPending: ContiguousArray<Bool> = []
    private var seenChanged: [(id: Int32, sensor: String)] = []
    private let startedAt: EpochMillis
    /// When silences were last started afresh (`restartSilences`): no sensor counts as silent
    /// for longer than since then.
    private var silencesFrom: EpochMillis?
    /// Restored alerts of subjects no longer derived (`district.<id>` scopes), resolved on
    /// the first tick.
    private var retired: [Alert] = []

    /// `restored`: the pending and firing alerts kept in storage, so that a restart neither
    /// loses a firing alert nor announces it again. `lastSeen`: newest reading per sensor.
    public init(rules: [Rule], catalogue: Catalogue, restored: [Alert] = [], lastSeen: [String: EpochMillis] = [:], now: EpochMillis,
                language: SummaryLanguage = .en) {
        self.rules = rules
        self.catalogue = catalogue
        self.language = language
        liveCount = Array(repeating: 0, count: rules.count)
        compiled = rules.map(CompiledRule.init)
        seen = lastSeen
        startedAt = now
        for (i, r) in rules.enumerated() {
            if r.when.isSilence { silenceRules.append(i); continue }
            switch (r.match.sensor, r.match.metric) {
            case (let s?, let m?): bySeries[SeriesName.placeholder(sensor: s, metric: m), default: []].append(i)
            case (nil, let m?): byMetric[m, default: []].append(i)
            case (_, nil): anyMetric.append(i)
            }
        }
        restore(restored)
    }

    /// Takes `alerts` (stored, perhaps by another collector that held this one's partition
    /// before) as the live ones, in place of those this engine had: a takeover neither
    /// announces again what the old holder announced nor forgets to resolve it.
    /// `replacing`: which of the engine's live alerts `alerts` stand for (all by default; the
    /// province-wide ones, or the others, when only those change hands).
    public func adopt(_ alerts: [Alert], replacing: (Alert) -> Bool = { _ in true }) {
        for (key, l) in live where replacing(l.alert) { setLive(key, nil) }
        retired.removeAll { replacing($0) }
        restore(alerts)
    }

    private func restore(_ restored: [Alert]) {
        for var a in restored {
            guard let i = rules.firstIndex(where: { $0.name == a.rule }) else { continue }
            let sensor = String(a.subject.split(separator: ":").first ?? Substring(a.subject))
            // A district scope's maxima are no longer derived (units have theirs): its alert
            // could never clear, so the first tick resolves it.
            if sensor.hasPrefix("district.") {
                retired.append(a)
                continue
            }
            // Stored before alerts had a place, or with a place the catalogue no longer has
            // as a unit (a former district): placed again from the catalogue.
            if (a.unit == nil && a.zone == nil) || a.unit.map({ !catalogue.units.isEmpty && catalogue.unit($0) == nil }) == true {
                let (unit, zone) = AlertPlace.of(sensor: sensor, entry: catalogue.sensor(sensor), catalogue: catalogue)
                if unit != nil || zone != nil { (a.unit, a.zone) = (unit, zone) }
            }
            let state: AlertStateMachine.State = a.state == "firing" ? .firing(since: a.since) : .pending(since: a.since)
            setLive(Key(rule: i, subject: a.subject),
                    Live(machine: AlertStateMachine(forMillis: rules[i].forMillis, state: state), alert: a, lastHolds: true))
        }
    }

    /// The live (pending or firing) alerts.
    public var liveAlerts: [Alert] { live.values.map(rendered) }

    /// A committed reading. `recent` gives the series' latest samples (oldest first), asked
    /// for only when a rate rule needs them. Pass `entry` when the caller has already looked
    /// the sensor up in the catalogue (it is looked up here otherwise).
    public func observe(series: SeriesName, sample: Sample, now: EpochMillis, entry known: SensorEntry?? = nil,
                        recent: () -> [Sample]) -> [AlertEvent] {
        foldSeen()
        Self.raise(&seen[series.sensor, default: .min], to: sample.time)   // one hash, in place
        let specific = byMetric[series.metric] ?? []
        let exact = bySeries.isEmpty ? [] : bySeries[series] ?? []
        guard !specific.isEmpty || !exact.isEmpty || !anyMetric.isEmpty else { return [] }
        let entry = known ?? catalogue.sensor(series.sensor)
        // Three plain loops, not one concatenated list: no allocation per reading.
        var events: [AlertEvent] = []
        var recentSamples: [Sample]?
        for i in exact where compiled[i].rule.match.matches(series, entry) {
            evaluate(i, series, sample, now, entry, recent, &recentSamples, &events)
        }
        for i in specific where compiled[i].rule.match.matches(series, entry) {
            evaluate(i, series, sample, now, entry, recent, &recentSamples, &events)
        }
        for i in anyMetric where compiled[i].rule.match.matches(series, entry) {
            evaluate(i, series, sample, now, entry, recent, &recentSamples, &events)
        }
        return events
    }

    /// A committed reading of series `id` (the hot path): its rules are worked out once per
    /// series, and the sensor's last-seen time is kept by id, without hashing a name.
    /// `entry`: the sensor's catalogue entry (or a derived scope's), as for `observe(series:)`.
    public func observe(id: SeriesID, series: SeriesName, sample: Sample, now: EpochMillis, entry: SensorEntry?,
                        recent: () -> [Sample]) -> [AlertEvent] {
        let i = id.index
        if i >= planOfID.count {
            let more = i + 1 - planOfID.count
            planOfID.append(contentsOf: repeatElement(0, count: more))
            seenOfID.append(contentsOf: repeatElement(.min, count: more))
            seenPending.append(contentsOf: repeatElement(false, count: more))
        }
        if sample.time > seenOfID[i] {
            seenOfID[i] = sample.time
            if !seenPending[i] {
                seenPending[i] = true
                seenChanged.append((Int32(i), series.sensor))
            }
        }
        if planOfID[i] == 0 {
            // In the order `observe(series:)` takes them: exact, by metric, any metric.
            let candidates = (bySeries[series] ?? []) + (byMetric[series.metric] ?? []) + anyMetric
            let plan = candidates.filter { compiled[$0].rule.match.matches(series, entry) }
            if let k = planIndex[plan] { planOfID[i] = k } else {
                plans.append(plan)
                planIndex[plan] = Int32(plans.count)
                planOfID[i] = Int32(plans.count)
            }
        }
        var events: [AlertEvent] = []
        var recentSamples: [Sample]?
        for r in plans[Int(planOfID[i]) - 1] { evaluate(r, series, sample, now, entry, recent, &recentSamples, &events) }
        return events
    }

    /// Folds the last-seen times kept by id into `seen`.
    private func foldSeen() {
        guard !seenChanged.isEmpty else { return }
        for (id, sensor) in seenChanged {
            let i = Int(id)
            Self.raise(&seen[sensor, default: .min], to: seenOfID[i])
            seenPending[i] = false
        }
        seenChanged.removeAll(keepingCapacity: true)
    }

    /// Steps the alert of rule `i` (known to match `series`) with one reading; the series'
    /// recent samples are asked for once, by the first rule that needs them.
    private func evaluate(_ i: Int, _ series: SeriesName, _ sample: Sample, _ now: EpochMillis, _ entry: SensorEntry?,
                          _ recent: () -> [Sample], _ recentSamples: inout [Sample]?, _ events: inout [AlertEvent]) {
        let rule = compiled[i].rule
        func window() -> [Sample] {
            if recentSamples == nil { recentSamples = recent() }
            return recentSamples!
        }
        let holds = rule.when.holds(sample, recent: rule.when.needsHistory ? window() : [])
        if !holds && liveCount[i] == 0 { return }   // quiet, nothing live: no state to look up
        let clears = rule.clear.map { $0.holds(sample, recent: $0.needsHistory ? window() : []) } ?? !holds
        let subject = rule.match.metric == nil ? "\(series.sensor):\(series.metric)" : series.sensor
        step(Key(rule: i, subject: subject), holds: holds, clears: clears, now: now, value: sample.value,
             valueTime: sample.time, entry: entry, series: series, into: &events)
    }

    /// Time passes: pending alerts whose `for` has elapsed fire; silences are checked.
    /// Silences are judged from `now` on, as after a start: for a partition's standby that
    /// takes over, whose store had none of the partition's readings while it waited.
    public func restartSilences(at now: EpochMillis) { silencesFrom = now }

    /// `only`: the live alerts whose timers run (and no silence is judged): a province's
    /// holder that does not hold a partition runs the province-wide scopes' timers alone.
    public func tick(now: EpochMillis, only: ((Alert) -> Bool)? = nil) -> [AlertEvent] {
        foldSeen()
        var events: [AlertEvent] = []
        for var a in retired where only?(a) ?? true {
            a.state = "resolved"
            a.since = now
            events.append(AlertEvent(action: .resolve, alert: a))
        }
        retired.removeAll { only?($0) ?? true }
        for (key, var l) in live where only?(l.alert) ?? true {
            let action = l.machine.tick(at: now, stillHolds: l.lastHolds)
            if action == .fire {
                render(&l)
                l.alert.state = "firing"
                l.alert.since = now
                setLive(key, l)
                events.append(AlertEvent(action: .fire, alert: l.alert))
            }
        }
        for i in silenceRules where only == nil {
            let rule = rules[i]
            guard case .silentFor(let millis, let intervals) = rule.when else { continue }
            for s in catalogue.sensors {
                guard rule.match.matches(SeriesName.placeholder(sensor: s.id, metric: rule.match.metric), s) else { continue }
                let limit = millis ?? Int64((intervals ?? 3) * Double(s.intervalMillis))
                let last = seen[s.id]
                let silent = now - max(last ?? startedAt, silencesFrom ?? .min) > limit
                step(Key(rule: i, subject: s.id), holds: silent, clears: !silent, now: now, value: nil,
                     valueTime: last, entry: s, series: nil, into: &events)
            }
        }
        return events
    }

    private static func raise(_ v: inout EpochMillis, to t: EpochMillis) { if t > v { v = t } }

    /// Sets or removes a live alert, keeping `liveCount` in step.
    private func setLive(_ key: Key, _ l: Live?) {
        if let l {
            if live.updateValue(l, forKey: key) == nil { liveCount[key.rule] += 1 }
        } else if live.removeValue(forKey: key) != nil {
            liveCount[key.rule] -= 1
        }
    }

    private func step(_ key: Key, holds: Bool, clears: Bool, now: EpochMillis, value: Double?, valueTime: EpochMillis?,
                      entry: SensorEntry?, series: SeriesName?, into events: inout [AlertEvent]) {
        let rule = rules[key.rule]
        // The common case, a quiet series with no live alert: inactive stays inactive.
        if !holds && liveCount[key.rule] == 0 { return }
        let existing = live[key]
        if existing == nil && !holds { return }
        var l = existing ?? {
            var a = Alert(rule: rule.name, subject: key.subject, severity: rule.severity(for: value), state: "inactive", since: now)
            (a.unit, a.zone) = AlertPlace.of(sensor: series?.sensor ?? entry?.id ?? key.subject, entry: entry, catalogue: catalogue)
            return Live(machine: AlertStateMachine(forMillis: rule.forMillis), alert: a, lastHolds: false)
        }()
        let action = l.machine.observe(holds: holds, clears: clears, at: now)
        l.lastHolds = holds
        var previousSeverity: Severity?
        if holds || action != .none {
            l.alert.value = value
            l.alert.valueTime = valueTime
            l.unrendered = Unrendered(rule: key.rule, value: value, entry: entry, series: series)
            // The severity follows the value's band while the alert is live (a firing
            // alert's change is announced below; a pending one's is stored).
            let severity = rule.severity(for: value)
            if severity != l.alert.severity && action != .resolve && action != .cancel {
                previousSeverity = l.alert.severity
                l.alert.severity = severity
            }
        }
        // Announced: its summaries now.
        if action != .none || previousSeverity != nil { render(&l) }
        switch action {
        case .none:
            guard l.machine.state.isLive else { return }
            setLive(key, l)
            // A firing alert's new severity is announced again; a pending one's is only stored
            // (a rise clears an acknowledgement given while it was pending).
            if let previousSeverity {
                let firing = if case .firing = l.machine.state { true } else { false }
                events.append(AlertEvent(action: firing ? .fire : .pending, alert: l.alert, previousSeverity: previousSeverity))
            }
            return
        case .pending:
            l.alert.state = "pending"
            l.alert.since = now
            setLive(key, l)
        case .fire:
            l.alert.state = "firing"
            l.alert.since = now
            setLive(key, l)
        case .cancel:
            l.alert.state = "cancelled"   // a pending alert that never fired: gone
            setLive(key, nil)
        case .resolve:
            l.alert.state = "resolved"
            l.alert.since = now
            setLive(key, nil)
        }
        var event = AlertEvent(action: action, alert: l.alert)
        // A rise in the reading that fires a pending alert: its acknowledgement goes too.
        if let previousSeverity, action == .fire { event.clearsAcknowledgement = l.alert.severity > previousSeverity }
        events.append(event)
    }

    /// A summary from its template; `unit` and `zone` are where the subject is
    /// (`AlertPlace`), for the display-name placeholders.
    static func render(_ template: String, _ rule: Rule, value: Double?, entry: SensorEntry?, series: SeriesName?, subject: String,
                       unit: String? = nil, zone: String? = nil, catalogue: Catalogue = Catalogue(),
                       decimalComma: Bool = false) -> String {
        guard !template.isEmpty else { return "\(rule.name) on \(subject)" }
        // One pass over the template (this runs for every reading that holds a rule).
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { rest = rest[open...]; break }
            let name = rest[rest.index(after: open)..<close]
            switch name {
            case "value":
                // Vietnamese writes a decimal comma (0,5 m).
                let text = value.map { $0 == $0.rounded() && abs($0) < 1e15 ? String(Int64($0)) : String($0) } ?? "-"
                out += decimalComma ? String(text.map { $0 == "." ? "," : $0 }) : text
            case "sensor": out += series?.sensor ?? entry?.id ?? subject
            case "metric": out += series?.metric ?? ""
            case "zone": out += entry?.zone ?? "-"
            case "unit": out += unit ?? "-"
            case "sensor_name":
                // A station's name; a zone or unit scope's is its zone's or unit's.
                let sensor = series?.sensor ?? entry?.id ?? subject
                if let name = entry?.name { out += name }
                else if sensor.hasPrefix("zone."), let z = zone { out += catalogue.zone(z)?.name ?? z }
                else if sensor.hasPrefix("unit.") || sensor.hasPrefix("district."), let u = unit { out += catalogue.name(ofPlace: u) ?? u }
                else { out += sensor }
            case "zone_name": out += zone.map { catalogue.zone($0)?.name ?? $0 } ?? "-"
            case "unit_name": out += unit.map { catalogue.name(ofPlace: $0) ?? $0 } ?? "-"
            case "rule": out += rule.name
            default:
                // `{<level>}` and `{<level>_name}`: the unit's group at a declared level
                // (`{district}` in a catalogue without one: the unit).
                let named = name.hasSuffix("_name")
                if let level = catalogue.level(named: String(named ? name.dropLast(5) : name)) {
                    let place = unit.flatMap { catalogue.place($0, at: level) }
                    out += place.map { named ? catalogue.name(ofPlace: $0) ?? $0 : $0 } ?? "-"
                } else {
                    out += rest[open...close]
                }
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return out
    }
}

extension SeriesName {
    /// A name for matching sensor-level rules (silences) that may name no metric.
    static func placeholder(sensor: String, metric: String?) -> SeriesName {
        (try? SeriesName(sensor: sensor, metric: metric ?? "any")) ?? (try! SeriesName(sensor: "x", metric: "any"))
    }
}

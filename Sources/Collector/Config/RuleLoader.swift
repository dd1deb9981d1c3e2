import Alerts
import Foundation
import Telemetry
import Yams

/// Loads alert rules from `rules*.yaml` files under the `sensors` path, checked against the
/// catalogue. Problems come as `file:line: message`.
enum RuleLoader {
    static func load(path: String, catalogue: Catalogue) throws(ConfigProblems) -> [Rule] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return [] }
        let all = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []
        let files = all.filter {
            let name = ($0 as NSString).lastPathComponent
            return name.hasPrefix("rules") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
        }.sorted().map { (path as NSString).appendingPathComponent($0) }
        var sources: [(file: String, text: String)] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f), let text = String(data: data, encoding: .utf8) else {
                throw ConfigProblems(problems: [ConfigProblem(file: f, line: 1, message: "cannot read the file as UTF-8")])
            }
            sources.append((f, text))
        }
        return try parse(sources, catalogue: catalogue)
    }

    static func parse(_ sources: [(file: String, text: String)], catalogue: Catalogue) throws(ConfigProblems) -> [Rule] {
        let sink = ProblemSink()
        var rules: [Rule] = []
        var seen: [String: (String, Int)] = [:]
        for (file, text) in sources {
            let root: Node
            do {
                guard let n = try Yams.compose(yaml: text) else { continue }
                root = n
            } catch {
                sink.add(file, 1, "YAML: \(error)")
                continue
            }
            let top = YAMLMapping(root, file: file, sink: sink, what: "a rules file")
            for node in top.sequence("rules") ?? [] {
                let m = top.child(node, what: "a rule")
                if let r = readRule(m, catalogue: catalogue) {
                    if let (f, l) = seen[r.name] { m.problem("name", "duplicate rule name '\(r.name)' (first at \(f):\(l))") }
                    else { seen[r.name] = (file, m.line); rules.append(r) }
                }
                m.finish("a rule")
            }
            top.finish("a rules file")
        }
        if !sink.problems.isEmpty { throw ConfigProblems(problems: sink.problems) }
        return rules
    }

    private static func readRule(_ m: YAMLMapping, catalogue: Catalogue) -> Rule? {
        let name = m.string("name")
        if let name, !CatalogueLoader.validID(name) { m.problem("name", "rule name '\(name)' must be an id (it is part of MQTT topics)") }
        if name == nil { m.problem("name", "a rule needs a name") }
        var severity: Severity?
        if let s = m.string("severity") {
            severity = Severity(rawValue: s)
            if severity == nil { m.problem("severity", "severity must be info, warning or critical") }
        } else { m.problem("name", "rule '\(name ?? "?")' needs a severity") }
        var bands: [SeverityBand] = []
        if let b = m.mapping("severity_by_value") {
            for key in b.allKeys() {
                guard let bound = Double(key), bound.isFinite else {
                    b.problem(key, "severity_by_value keys are the values where a band starts, e.g. {2: warning, 3: critical}")
                    continue
                }
                guard let text = b.string(key) else { continue }
                guard let level = Severity(rawValue: text) else {
                    b.problem(key, "severity must be info, warning or critical")
                    continue
                }
                if bands.contains(where: { $0.atLeast == bound }) {
                    b.problem(key, "severity_by_value has two bands starting at \(key)")
                    continue
                }
                bands.append(SeverityBand(atLeast: bound, severity: level))
            }
            if b.allKeys().isEmpty { b.problem("", "severity_by_value needs at least one band, e.g. {2: warning, 3: critical}") }
            b.finish("severity_by_value")
        }
        var match = RuleMatch()
        if let mm = m.mapping("match") {
            if let k = mm.string("kind") {
                match.kind = SensorKind(rawValue: k)
                if match.kind == nil { mm.problem("kind", "unknown kind '\(k)' (forest, meter, traffic, environment, hydro, water)") }
            }
            match.metric = mm.string("metric")
            match.sensor = mm.string("sensor")
            match.zone = mm.string("zone")
            // `unit: X`, or a level's group (`district: tam-duong`): the units it stands for.
            for key in mm.allKeys() where !["kind", "metric", "sensor", "zone"].contains(key) {
                guard let level = catalogue.level(named: key) else {
                    let levels = catalogue.levels.map(\.id)
                    mm.problem(key, "unknown key '\(key)' in match (kind, metric, sensor, zone, unit\(levels.isEmpty ? "" : ", " + levels.joined(separator: ", ")))")
                    continue
                }
                guard match.units == nil else { mm.problem(key, "match names a place twice; give one of unit or a level"); continue }
                guard let id = mm.string(key) else { continue }
                if level == Catalogue.unitLevel {
                    if !catalogue.units.isEmpty, catalogue.unit(id) == nil { mm.problem(key, "unknown unit '\(id)'") }
                    match.units = [id]
                } else {
                    let members = catalogue.units(in: id, at: level)
                    if !catalogue.places(at: level).contains(id) { mm.problem(key, "'\(id)' is not a group of level '\(level)'") }
                    match.units = Set(members + [id])   // and old data labelled with the group itself
                }
            }
            if let s = match.sensor, !catalogue.sensors.isEmpty, catalogue.sensor(s) == nil, !DerivedScope.isDerived(s) {
                mm.problem("sensor", "unknown sensor '\(s)'")
            }
            if let z = match.zone, !catalogue.zones.isEmpty, catalogue.zone(z) == nil { mm.problem("zone", "unknown zone '\(z)'") }
            mm.finish("match")
        } else { m.problem("name", "rule '\(name ?? "?")' needs a match") }
        let when = m.mapping("when").flatMap { condition($0, what: "when") }
        if m.node("when") == nil { m.problem("name", "rule '\(name ?? "?")' needs a when") }
        let clear = m.mapping("clear").flatMap { condition($0, what: "clear") }
        if let when, when.isSilence, match.metric == nil, match.kind == nil, match.sensor == nil, match.units == nil {
            m.problem("match", "a silent_for rule needs a kind, sensor or place (unit or a level) to know which sensors to watch")
        }
        if when != nil, !(when!.isSilence), match.metric == nil { m.problem("match", "rule '\(name ?? "?")' needs match.metric") }
        let forMillis = m.duration("for") ?? 0
        let summary = m.string("summary") ?? ""
        let summaryVi = m.string("summary_vi") ?? ""
        guard let name, let severity, let when else { return nil }
        return Rule(name: name, severity: severity, severityByValue: bands, match: match, when: when, clear: clear,
                    forMillis: forMillis, summary: summary, summaryVi: summaryVi)
    }

    private static func condition(_ m: YAMLMapping, what: String) -> Condition? {
        defer { m.finish(what) }
        let keys = m.allKeys()
        guard keys.count == 1, let key = keys.first else {
            m.problem(keys.first ?? "", "\(what) needs exactly one of above, below, at_least, at_most, rate_above, rate_below, silent_for")
            return nil
        }
        switch key {
        case "above", "below", "at_least", "at_most":
            guard let x = m.double(key, in: -1e15...1e15) else { return nil }
            return key == "above" ? .above(x) : key == "below" ? .below(x) : key == "at_least" ? .atLeast(x) : .atMost(x)
        case "rate_above", "rate_below":
            guard let r = m.mapping(key) else { return nil }
            defer { r.finish(key) }
            guard let delta = r.double("delta", in: 0...1e15), let per = r.duration("per"), per > 0 else {
                if r.node("delta") == nil || r.node("per") == nil { r.problem(key, "\(key) needs delta and per, e.g. {delta: 0.5, per: 1h}") }
                return nil
            }
            return key == "rate_above" ? .rateAbove(delta: delta, perMillis: per) : .rateBelow(delta: delta, perMillis: per)
        case "silent_for":
            guard let text = m.string(key) else { return nil }
            if text.hasSuffix("x"), let n = Double(text.dropLast()), n > 0 { return .silentFor(millis: nil, intervals: n) }
            if let ms = DurationText.millis(text), ms > 0 { return .silentFor(millis: ms, intervals: nil) }
            m.problem(key, "silent_for must be a duration (30m) or a multiple of the sensor's interval (3x)")
            return nil
        default:
            m.problem(key, "unknown condition '\(key)' (above, below, at_least, at_most, rate_above, rate_below, silent_for)")
            return nil
        }
    }
}

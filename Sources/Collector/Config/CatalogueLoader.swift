import Alerts
import Foundation
import Telemetry
import Yams

/// Loads the sensor catalogue from every `*.yaml` / `*.yml` under the `sensors` path (rule
/// files, `rules*.yaml`, belong to Alerts and are skipped). Problems come as `file:line: message`:
/// unknown keys, duplicate ids, unknown zones, units or levels, bad durations, bad values.
enum CatalogueLoader {
    static func load(path: String) throws(ConfigProblems) -> Catalogue {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "the sensor catalogue path does not exist")])
        }
        let files: [String]
        if isDir.boolValue {
            let all = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []
            files = all.filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !(($0 as NSString).lastPathComponent.hasPrefix("rules")) }
                .sorted().map { (path as NSString).appendingPathComponent($0) }
        } else {
            files = [path]
        }
        var sources: [(file: String, text: String)] = []
        var problems: [ConfigProblem] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f), let text = String(data: data, encoding: .utf8) else {
                problems.append(ConfigProblem(file: f, line: 1, message: "cannot read the file as UTF-8"))
                continue
            }
            sources.append((f, text))
        }
        if !problems.isEmpty { throw ConfigProblems(problems: problems) }
        return try parse(sources)
    }

    /// Parses and cross-checks several catalogue files as one catalogue.
    static func parse(_ sources: [(file: String, text: String)]) throws(ConfigProblems) -> Catalogue {
        let sink = ProblemSink()
        var zones: [(Zone, String, Int)] = []
        var sensors: [(SensorEntry, String, Int, zoneLine: Int)] = []
        var places = Places()
        for (file, text) in sources {
            let root: Node
            do {
                guard let n = try Yams.compose(yaml: text) else { continue }
                root = n
            } catch let e as YamlError {
                sink.add(file, yamlLine(e), "YAML: \(e)")
                continue
            } catch {
                sink.add(file, 1, "\(error)")
                continue
            }
            let top = YAMLMapping(root, file: file, sink: sink, what: "a catalogue file")
            readPlaces(top, file: file, into: &places, sink: sink)
            for node in top.sequence("zones") ?? [] {
                let m = top.child(node, what: "a zone")
                if let z = readZone(m) { zones.append((z, file, m.line)) }
            }
            for node in top.sequence("sensors") ?? [] {
                let m = top.child(node, what: "a sensor")
                if let s = readSensor(m) { sensors.append((s, file, m.line, m.lineOf("zone"))) }
            }
            top.finish("a catalogue file")
        }
        // Two provinces' files: that alone is the problem (their ids would clash everywhere).
        if let second = places.secondProvince { throw ConfigProblems(problems: [second]) }
        // Cross-file checks.
        var seenZones: [String: (String, Int)] = [:]
        for (z, f, l) in zones {
            if let (pf, pl) = seenZones[z.id] { sink.add(f, l, "duplicate zone id '\(z.id)' (first at \(pf):\(pl))") }
            else { seenZones[z.id] = (f, l) }
        }
        checkPlaces(places, sink: sink)
        var seenSensors: [String: (String, Int)] = [:]
        var devices: [String: String] = [:]   // a LoRaWAN device reports as one station
        for (s, f, l, _) in sensors {
            for key in [s.devEUI.map { "dev_eui \($0)" }, s.deviceID.map { "device_id \($0)" }].compactMap({ $0 }) {
                if let other = devices[key] { sink.add(f, l, "sensor '\(s.id)': \(key) is already sensor '\(other)''s") }
                else { devices[key] = s.id }
            }
        }
        let knownUnits = Set(places.units.map(\.0.id))
        for (s, f, l, zl) in sensors {
            if let (pf, pl) = seenSensors[s.id] { sink.add(f, l, "duplicate sensor id '\(s.id)' (first at \(pf):\(pl))") }
            else { seenSensors[s.id] = (f, l) }
            if !knownUnits.isEmpty && !knownUnits.contains(s.unit) {
                sink.add(f, l, "sensor '\(s.id)': unknown \(places.legacyDistricts ? "district" : "unit") '\(s.unit)'")
            }
            if let zone = s.zone {
                if let z = zones.first(where: { $0.0.id == zone })?.0 {
                    if (s.kind == .forest || s.kind == .environment) && z.kind != s.kind {
                        sink.add(f, zl, "sensor '\(s.id)': zone '\(zone)' is a \(z.kind.rawValue) zone, not \(s.kind.rawValue)")
                    }
                } else if s.kind == .forest || s.kind == .environment {
                    sink.add(f, zl, "sensor '\(s.id)': unknown zone '\(zone)'")
                }
            } else if s.kind == .forest {
                sink.add(f, l, "forest sensor '\(s.id)' needs the zone it watches")
            }
        }
        // A DMA's loss is measured at its one inflow meter.
        var inflowOf: [String: String] = [:]
        for (s, f, l, _) in sensors where s.kind == .water && s.role == .inflow {
            guard let dma = s.zone else { sink.add(f, l, "water inflow meter '\(s.id)' needs the DMA it feeds (zone)"); continue }
            if let first = inflowOf[dma] { sink.add(f, l, "DMA '\(dma)' has a second inflow meter '\(s.id)' (first '\(first)'); give each inflow its own DMA") }
            else { inflowOf[dma] = s.id }
        }
        for (z, f, l) in zones where !knownUnits.isEmpty && !knownUnits.contains(z.unit) {
            sink.add(f, l, "zone '\(z.id)': unknown \(places.legacyDistricts ? "district" : "unit") '\(z.unit)'")
        }
        if !sink.problems.isEmpty {
            let order = Dictionary(uniqueKeysWithValues: sources.enumerated().map { ($1.file, $0) })
            let sorted = sink.problems.enumerated().sorted {
                (order[$0.element.file] ?? 0, $0.element.line, $0.offset) < (order[$1.element.file] ?? 0, $1.element.line, $1.offset)
            }.map(\.element)
            throw ConfigProblems(problems: sorted)
        }
        return Catalogue(province: places.province?.0, zones: zones.map(\.0), sensors: sensors.map(\.0),
                         units: places.units.map(\.0), levels: places.levels.map(\.0))
    }

    /// `name`: a display name for people (diacritics welcome), at most 120 characters, no
    /// control characters; ids stay ASCII.
    static func displayName(_ m: YAMLMapping) -> String? {
        guard let name = m.string("name") else { return nil }
        guard !name.isEmpty, name.count <= 120, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            m.problem("name", "a name must be 1 to 120 characters, without control characters")
            return nil
        }
        return name
    }

    private static func readZone(_ m: YAMLMapping) -> Zone? {
        defer { m.finish("a zone") }
        // Read every field first, so a bad one does not leave the others reported as unknown.
        let id = requiredID(m, "id", what: "a zone")
        let kind = readKind(m)
        let unit = readUnit(m, what: "zone '\(m.string("id") ?? "?")'")
        let area = m.double("area_ha", in: 0.0001...10_000_000)
        let commune = m.string("commune")
        let name = displayName(m)
        let (susceptibility, region) = readHazard(m)
        if m.node("area_ha") == nil { m.problem("id", "zone '\(id ?? "?")' needs area_ha") }
        guard let id, let kind, let unit, let area else { return nil }
        var z = Zone(id: id, kind: kind, unit: unit, commune: commune, areaHa: area,
                     susceptibility: susceptibility, region: region)
        z.name = name
        return z
    }

    /// `susceptibility` (low | medium | high | very_high) and `region` (1-4, Decision 18/2021)
    /// of a zone or a station.
    private static func readHazard(_ m: YAMLMapping) -> (Susceptibility?, Int?) {
        var susceptibility: Susceptibility?
        if let v = m.string("susceptibility") {
            susceptibility = Susceptibility(rawValue: v)
            if susceptibility == nil { m.problem("susceptibility", "susceptibility must be low, medium, high or very_high") }
        }
        return (susceptibility, m.int("region", in: 1...4))
    }

    private static func readSensor(_ m: YAMLMapping) -> SensorEntry? {
        defer { m.finish("a sensor") }
        let id = requiredID(m, "id", what: "a sensor")
        if let id, DerivedScope.isDerived(id) {
            m.problem("id", "sensor id '\(id)' uses a prefix reserved for derived series (\(DerivedScope.prefixes.joined(separator: ", ")))")
        }
        let kind = readKind(m)
        let unit = readUnit(m, what: "sensor '\(m.string("id") ?? "?")'")
        var interval = m.duration("interval")
        if m.node("interval") == nil { m.problem("id", "sensor '\(id ?? "?")' needs an interval (e.g. 10m)") }
        if let i = interval, i < 1000 { m.problem("interval", "interval must be at least 1s"); interval = nil }
        let zone = m.string("zone")
        var latitude: Double?, longitude: Double?
        if let loc = m.mapping("location") {
            latitude = loc.double("lat", in: -90...90)
            longitude = loc.double("lon", in: -180...180)
            loc.finish("location")
        }
        var metrics: [String: String] = [:]
        if let mm = m.mapping("metrics") {
            for key in mm.allKeys() {
                if (try? SeriesName(sensor: "x", metric: key)) == nil {
                    mm.problem(key, "metric name '\(key)' must use A-Z a-z 0-9 - _ . and start alphanumeric")
                }
                if let unit = mm.mapping(key) {
                    metrics[key] = unit.string("unit") ?? ""
                    unit.finish("metric '\(key)'")
                }
            }
        }
        var alarm: [Double]?
        if let levels = m.sequence("alarm_levels_m") {
            let values = levels.compactMap(\.float)
            if values.count != 3 || values != values.sorted() || Set(values).count != 3 {
                m.problem("alarm_levels_m", "alarm_levels_m must be three rising levels in metres (I, II, III)")
            } else { alarm = values }
        }
        let freeFlow = m.double("free_flow_kmh", in: 1...300)
        var role: SensorEntry.MeterRole?
        if let r = m.string("role") {
            role = SensorEntry.MeterRole(rawValue: r)
            switch (kind, role) {
            case (.meter, .feeder?), (.meter, .customer?), (.water, .inflow?), (.water, .customer?), (.water, .pressure?): break
            case (.water, _): m.problem("role", "a water sensor's role must be inflow, customer or pressure"); role = nil
            case (.meter, _): m.problem("role", "a meter's role must be feeder or customer"); role = nil
            default: m.problem("role", "role is for meters and water sensors"); role = nil
            }
        }
        if alarm != nil && kind != .hydro { m.problem("alarm_levels_m", "alarm_levels_m is for hydro sensors") }
        if freeFlow != nil && kind != .traffic { m.problem("free_flow_kmh", "free_flow_kmh is for traffic sensors") }
        let (susceptibility, region) = readHazard(m)
        let name = displayName(m)
        var devEUI = m.string("dev_eui")
        if let e = devEUI, e.utf8.count != 16 || !e.allSatisfy(\.isHexDigit) {
            m.problem("dev_eui", "dev_eui must be 16 hexadecimal digits (a LoRaWAN device EUI)")
            devEUI = nil
        }
        var deviceID = m.string("device_id")
        if let d = deviceID, !validID(d) { m.problem("device_id", "device_id '\(d)' is not a valid id"); deviceID = nil }
        guard let id, let kind, let unit, let interval else { return nil }
        var s = SensorEntry(id: id, kind: kind, unit: unit, zone: zone, intervalMillis: interval)
        s.name = name
        s.latitude = latitude
        s.longitude = longitude
        s.metrics = metrics
        s.alarmLevelsM = alarm
        s.freeFlowKmh = freeFlow
        s.role = role
        s.susceptibility = susceptibility
        s.region = region
        s.devEUI = devEUI?.lowercased()
        s.deviceID = deviceID
        return s
    }

    private static func readKind(_ m: YAMLMapping) -> SensorKind? {
        guard let k = m.string("kind") else { m.problem("id", "a kind is needed (forest, meter, traffic, environment, hydro, water)"); return nil }
        guard let kind = SensorKind(rawValue: k) else {
            m.problem("kind", "unknown kind '\(k)' (forest, meter, traffic, environment, hydro, water)")
            return nil
        }
        return kind
    }

    /// `unit` (a commune or ward), or `district` in a legacy catalogue: exactly one.
    private static func readUnit(_ m: YAMLMapping, what: String) -> String? {
        let hasUnit = m.node("unit") != nil, hasDistrict = m.node("district") != nil
        if hasUnit && hasDistrict { m.problem("district", "\(what) gives both unit and district; give its unit"); return nil }
        return requiredID(m, hasDistrict ? "district" : "unit", what: what)
    }

    static func requiredID(_ m: YAMLMapping, _ key: String, what: String) -> String? {
        guard let v = m.string(key), !v.isEmpty else {
            m.problem("id", "\(what) needs '\(key)'")
            return nil
        }
        guard validID(v) else { m.problem(key, "'\(v)' is not a valid id (A-Z a-z 0-9 - _ . :, starting alphanumeric)"); return nil }
        return v
    }

    static func validID(_ s: String) -> Bool { (try? SeriesName(sensor: s, metric: "x")) != nil }

    private static func yamlLine(_ e: YamlError) -> Int {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: 1
        }
    }
}

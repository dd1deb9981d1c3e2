import Telemetry
import Yams

/// The administrative side of a catalogue: `province`, `levels` (groupings of the units)
/// and `units` (communes and wards), or a legacy catalogue's `districts`.
extension CatalogueLoader {
    /// What the files declare, gathered before the cross-file checks.
    struct Places {
        var province: (Province, file: String, line: Int)?
        var levels: [(AdminLevel, file: String, line: Int)] = []
        var units: [(AdminUnit, file: String, line: Int, groupLines: [String: Int])] = []
        var legacyDistricts = false
        /// A second province's declaration: the path holds two provinces' folders.
        var secondProvince: ConfigProblem?
    }

    /// Words a level may not be called: labels and query parameters that already mean something
    /// (a level's id is a query parameter: `?district=tam-duong`).
    static let reservedLevelIDs: Set<String> = ["kind", "sensor", "rule", "zone", "severity", "province", "metric", "series",
                                                "scope", "level", "indicator", "step", "agg", "group_by", "from", "to", "last",
                                                "points", "format", "state", "status", "limit", "after", "by", "year", "token",
                                                // labels of remote write samples
                                                "tier", "stat", "metric", "__name__"]

    /// Reads one file's `province`, `levels`, `units` and `districts`.
    static func readPlaces(_ top: YAMLMapping, file: String, into places: inout Places, sink: ProblemSink) {
        if let m = top.mapping("province") {
            let id = requiredID(m, "id", what: "the province")
            let name = displayName(m)
            let source = m.string("units_source")
            m.finish("the province")
            if let id {
                if let (p, pf, pl) = places.province {
                    places.secondProvince = places.secondProvince ?? ConfigProblem(
                        file: file, line: m.line, message: "a second province '\(id)' (the first, '\(p.id)', at \(pf):\(pl)): one collector "
                            + "serves one province; point `sensors:` at one province's folder, e.g. sensors/\(p.id)")
                } else {
                    places.province = (Province(id: id, name: name, unitsSource: source), file, m.line)
                }
            }
        }
        for node in top.sequence("levels") ?? [] {
            let m = top.child(node, what: "a level")
            let id = requiredID(m, "id", what: "a level")
            let name = displayName(m)
            var groups: [AdminLevel.Group] = []
            for g in m.sequence("groups") ?? [] {
                if case .mapping = g {
                    let gm = m.child(g, what: "a group")
                    if let gid = requiredID(gm, "id", what: "a group") { groups.append(.init(id: gid, name: displayName(gm))) }
                    gm.finish("a group")
                } else if let gid = g.string, validID(gid) {
                    groups.append(.init(id: gid))
                } else {
                    sink.add(file, g.mark?.line ?? m.line, "a group must be a short id such as tam-duong, or {id: tam-duong, name: Tam Đường}")
                }
            }
            if m.node("groups") == nil { m.problem("id", "level '\(id ?? "?")' needs its groups") }
            m.finish("a level")
            if let id {
                if id == Catalogue.unitLevel || Self.reservedLevelIDs.contains(id) {
                    m.problem("id", "'\(id)' cannot name a level: it already means something in queries")
                } else {
                    places.levels.append((AdminLevel(id: id, name: name, groups: groups), file, m.line))
                }
            }
        }
        for node in top.sequence("units") ?? [] {
            let m = top.child(node, what: "a unit")
            let id = requiredID(m, "id", what: "a unit")
            let name = displayName(m)
            var type: AdminUnit.UnitType?
            if let t = m.string("type") {
                type = AdminUnit.UnitType(rawValue: t)
                if type == nil || type == .district { m.problem("type", "a unit's type must be commune, ward or special_zone"); type = nil }
            } else {
                m.problem("id", "unit '\(id ?? "?")' needs a type (commune, ward or special_zone)")
            }
            // Every other key names a level and the unit's group in it (checked once all
            // files are read: the levels may be declared in another file).
            var groups: [String: String] = [:], lines: [String: Int] = [:]
            for key in m.allKeys() where !["id", "name", "type"].contains(key) {
                if let g = m.string(key), validID(g) { groups[key] = g; lines[key] = m.lineOf(key) }
                else { m.problem(key, "'\(key)' must be the id of the unit's group in level '\(key)'") }
            }
            m.finish("a unit")
            if let id, let type { places.units.append((AdminUnit(id: id, name: name, type: type, groups: groups), file, m.line, lines)) }
        }
        for node in top.sequence("districts") ?? [] {
            places.legacyDistricts = true
            if case .mapping = node {   // {id: muong-te, name: Mường Tè}
                let m = top.child(node, what: "a district")
                let id = requiredID(m, "id", what: "a district")
                let name = displayName(m)
                m.finish("a district")
                if let id { places.units.append((AdminUnit(id: id, name: name, type: .district), file, m.line, [:])) }
            } else if let d = node.string, validID(d) {
                places.units.append((AdminUnit(id: d, type: .district), file, node.mark?.line ?? 1, [:]))
            } else {
                sink.add(file, node.mark?.line ?? 1, "a district must be a short id such as muong-te, or {id: muong-te, name: Mường Tè}")
            }
        }
    }

    /// Cross-file checks of the places: unique ids across units and every level's groups (so
    /// an id labelling old data names one place), units in declared levels and groups, and
    /// not both `units` and the legacy `districts`.
    static func checkPlaces(_ places: Places, sink: ProblemSink) {
        var seen: [String: (what: String, file: String, line: Int)] = [:]
        func claim(_ id: String, _ what: String, _ file: String, _ line: Int) {
            if id == "province" { sink.add(file, line, "'province' cannot be a place id: it names the whole province's figures"); return }
            if let first = seen[id] { sink.add(file, line, "\(what) id '\(id)' is already used by \(first.what) at \(first.file):\(first.line)") }
            else { seen[id] = (what, file, line) }
        }
        var levelIDs: [String: Set<String>] = [:]
        for (l, f, line) in places.levels {
            if levelIDs[l.id] != nil { sink.add(f, line, "duplicate level id '\(l.id)'"); continue }
            levelIDs[l.id] = Set(l.groups.map(\.id))
            for g in l.groups { claim(g.id, "a group of level '\(l.id)'", f, line) }
        }
        if places.legacyDistricts && places.units.contains(where: { $0.0.type != .district }) {
            let (_, f, l, _) = places.units.first { $0.0.type != .district }!
            sink.add(f, l, "declare the province's units (communes and wards) with `units:`, or districts with the older `districts:`, not both")
        }
        for (u, f, line, groupLines) in places.units {
            claim(u.id, "a unit", f, line)
            for (level, group) in u.groups.sorted(by: { $0.key < $1.key }) {
                guard let groups = levelIDs[level] else {
                    sink.add(f, groupLines[level] ?? line, "unit '\(u.id)': unknown key or level '\(level)'"
                             + (places.levels.isEmpty ? " (declare it under `levels:`)" : " (levels: \(places.levels.map(\.0.id).joined(separator: ", ")))"))
                    continue
                }
                if !groups.contains(group) { sink.add(f, groupLines[level] ?? line, "unit '\(u.id)': '\(group)' is not a group of level '\(level)'") }
            }
        }
    }
}

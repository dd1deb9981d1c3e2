import Hummingbird
import Telemetry

extension CatalogueRoutes {
    /// `GET /api/v1/places`: the province, the levels the catalogue declares with their
    /// groups, and the units (declared, or used by sensors and zones) with their type and
    /// group at each level; names null where the catalogue gives none.
    func places() -> Response {
        let catalogue = live.current
        var units = catalogue.units
        var known = Set(units.map(\.id))
        for u in catalogue.zones.map(\.unit) + catalogue.sensors.map(\.unit) where !known.contains(u) {
            known.insert(u)
            units.append(AdminUnit(id: u, type: .district))
        }
        var j = JSONText()
        j.object {
            $0.field("province") { p in
                if let province = catalogue.province {
                    p.object {
                        $0.field("id") { $0.string(province.id) }
                        $0.field("name") { if let n = province.name { $0.string(n) } else { $0.null() } }
                        $0.field("units_source") { if let s = province.unitsSource { $0.string(s) } else { $0.null() } }
                    }
                } else { p.null() }
            }
            $0.field("levels") { a in
                a.array {
                    for l in catalogue.levels {
                        $0.object {
                            $0.field("id") { $0.string(l.id) }
                            $0.field("name") { if let n = l.name { $0.string(n) } else { $0.null() } }
                            $0.field("groups") { g in
                                g.array {
                                    for group in l.groups {
                                        $0.object {
                                            $0.field("id") { $0.string(group.id) }
                                            $0.field("name") { if let n = group.name { $0.string(n) } else { $0.null() } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            $0.field("units") { a in
                a.array {
                    for u in units {
                        $0.object {
                            $0.field("id") { $0.string(u.id) }
                            $0.field("name") { if let n = u.name { $0.string(n) } else { $0.null() } }
                            $0.field("type") { $0.string(u.type.rawValue) }
                            $0.field("groups") { g in
                                g.object { for (level, group) in u.groups.sorted(by: { $0.key < $1.key }) { $0.field(named: level) { $0.string(group) } } }
                            }
                        }
                    }
                }
            }
        }
        return j.response()
    }
}

/// An administrative unit sensors and zones sit in: since 1 July 2025 a commune (xã), ward
/// (phường) or special zone (đặc khu) directly under the province. Catalogues written before
/// the reorganisation declare districts instead (`districts:`); their units are those.
public struct AdminUnit: Sendable, Equatable {
    public enum UnitType: String, Sendable, CaseIterable {
        case commune, ward
        case specialZone = "special_zone"
        /// A district-level unit of a catalogue written before 1 July 2025.
        case district
    }

    public var id: String
    /// The display name as people write it (Xã Bản Bo, Phường Tân Phong).
    public var name: String?
    public var type: UnitType
    /// Level id -> the group of that level the unit belongs to (`district: tam-duong`).
    public var groups: [String: String]

    public init(id: String, name: String? = nil, type: UnitType, groups: [String: String] = [:]) {
        self.id = id
        self.name = name
        self.type = type
        self.groups = groups
    }
}

/// A way of grouping a province's units that the catalogue declares: the former districts,
/// a forest management board's area, a water utility's service area. Coverage, grouped
/// rollups and alert groups work at any declared level as at the units themselves.
public struct AdminLevel: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var id: String
        public var name: String?
        public init(id: String, name: String? = nil) {
            self.id = id
            self.name = name
        }
    }

    /// The level's id, used in queries (`group_by=district`, `level=district`).
    public var id: String
    /// What people call it (Huyện cũ).
    public var name: String?
    public var groups: [Group]

    public init(id: String, name: String? = nil, groups: [Group]) {
        self.id = id
        self.name = name
        self.groups = groups
    }
}

/// The province a catalogue describes (one collector serves one province).
public struct Province: Sendable, Equatable {
    public var id: String
    public var name: String?
    /// The official list the catalogue's units follow (a resolution's number and date).
    public var unitsSource: String?

    public init(id: String, name: String? = nil, unitsSource: String? = nil) {
        self.id = id
        self.name = name
        self.unitsSource = unitsSource
    }
}

/// The sensor catalogue (`sensors/<province>/*.yaml`, README "Sensor catalogue"): the
/// province's administrative units and their groupings, the areas coverage is measured over,
/// and the sensors expected to report, with what each one means.
public struct Catalogue: Sendable, Equatable {
    /// The id of the units' own level (communes and wards, or a legacy catalogue's districts).
    public static let unitLevel = "unit"

    public let province: Province?
    public let zones: [Zone]
    public let sensors: [SensorEntry]
    /// The units, when the catalogue declares them (then sensors and zones must use them).
    public let units: [AdminUnit]
    /// The groupings of the units the catalogue declares.
    public let levels: [AdminLevel]
    private let sensorIndex: [String: Int]
    private let unitIndex: [String: Int]
    /// Unit and group ids -> display names (ids are unique across units and all groups).
    private let placeNames: [String: String]
    /// Level id -> its group ids.
    private let groupIDs: [String: Set<String>]

    public init(province: Province? = nil, zones: [Zone] = [], sensors: [SensorEntry] = [], units: [AdminUnit] = [],
                levels: [AdminLevel] = []) {
        self.province = province
        self.zones = zones
        self.sensors = sensors
        self.units = units
        self.levels = levels
        sensorIndex = Dictionary(sensors.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        unitIndex = Dictionary(units.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        var names: [String: String] = [:]
        for l in levels { for g in l.groups { if let n = g.name { names[g.id] = n } } }
        for u in units { if let n = u.name { names[u.id] = n } }
        placeNames = names
        groupIDs = Dictionary(levels.map { ($0.id, Set($0.groups.map(\.id))) }, uniquingKeysWith: { a, _ in a })
    }

    public func sensor(_ id: String) -> SensorEntry? { sensorIndex[id].map { sensors[$0] } }
    /// The position of sensor `id` in `sensors`.
    public func index(ofSensor id: String) -> Int? { sensorIndex[id] }
    public func zone(_ id: String) -> Zone? { zones.first { $0.id == id } }
    public func unit(_ id: String) -> AdminUnit? { unitIndex[id].map { units[$0] } }

    /// The display name of a unit or of a group of any level.
    public func name(ofPlace id: String) -> String? { placeNames[id] }

    /// The level a query names: `unit`, a declared level, or `district` in a catalogue that
    /// declares no such level (its units are the districts). Nil: no such level.
    public func level(named name: String) -> String? {
        if name == Self.unitLevel || groupIDs[name] != nil { return name }
        if name == "district" { return Self.unitLevel }
        return nil
    }

    /// The place at `level` (as `level(named:)` resolves it) of `place`: a unit's own id at
    /// the unit level, its group at a declared level. A place that is itself a group of that
    /// level answers for itself, so data labelled before the reorganisation (a series or an
    /// alert carrying a former district) stays answerable by it.
    public func place(_ place: String, at level: String) -> String? {
        if level == Self.unitLevel { return place }
        if let u = unitIndex[place] { return units[u].groups[level] }
        return groupIDs[level]?.contains(place) == true ? place : nil
    }

    /// The units in `group` of a declared `level`.
    public func units(in group: String, at level: String) -> [String] {
        units.filter { $0.groups[level] == group }.map(\.id)
    }

    /// The ids at `level` in the catalogue's order: its units, or the level's groups.
    public func places(at level: String) -> [String] {
        if level == Self.unitLevel { return units.map(\.id) }
        return levels.first { $0.id == level }?.groups.map(\.id) ?? []
    }
}

/// What kind of infrastructure a sensor or zone belongs to.
public enum SensorKind: String, Sendable, CaseIterable {
    case forest, meter, traffic, environment, hydro
    /// Clean-water networks: a district metered area's inflow and customer meters, and its
    /// pressure loggers (`zone` = the DMA).
    case water
}

/// How prone an area is to flash floods and landslides (nguy cơ: thấp, trung bình, cao,
/// rất cao), as the hazard maps class it; ordered from low to very high.
public enum Susceptibility: String, Sendable, CaseIterable, Comparable {
    case low, medium, high, veryHigh = "very_high"

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// An area coverage is measured over (for forests: a compartment, tiểu khu).
public struct Zone: Sendable, Equatable {
    public var id: String
    /// A display name (with diacritics), if the catalogue gives one.
    public var name: String?
    public var kind: SensorKind
    /// The administrative unit the zone lies in.
    public var unit: String
    /// An environment zone's commune, when it differs from its unit (legacy catalogues).
    public var commune: String?
    public var areaHa: Double
    /// Flash-flood and landslide susceptibility of the area (for the flood-risk level).
    public var susceptibility: Susceptibility?
    /// The natural-disaster region (khu vực 1-4 of Decision 18/2021) when it is not the
    /// province's: a merged province can span two.
    public var region: Int?

    public init(id: String, kind: SensorKind, unit: String, commune: String? = nil, areaHa: Double,
                susceptibility: Susceptibility? = nil, region: Int? = nil) {
        self.id = id
        self.kind = kind
        self.unit = unit
        self.commune = commune
        self.areaHa = areaHa
        self.susceptibility = susceptibility
        self.region = region
    }
}

/// One catalogued sensor. Its fields live in one shared, immutable box: an entry passes
/// through several stages with every reading, and a copy then retains one reference, not
/// each of its strings and collections (a change makes a new box).
public struct SensorEntry: Sendable, Equatable {
    /// meter: `feeder` (the transformer's own) or `customer`; water: `inflow` (the DMA's),
    /// `customer`, or `pressure` (a logger at one of its critical points).
    public enum MeterRole: String, Sendable { case feeder, customer, inflow, pressure }

    private var box: Box

    public var id: String {
        get { box.fields.id }
        set { change { $0.id = newValue } }
    }
    /// A display name (with diacritics), if the catalogue gives one.
    public var name: String? {
        get { box.fields.name }
        set { change { $0.name = newValue } }
    }
    public var kind: SensorKind {
        get { box.fields.kind }
        set { change { $0.kind = newValue } }
    }
    /// The administrative unit the sensor stands in.
    public var unit: String {
        get { box.fields.unit }
        set { change { $0.unit = newValue } }
    }
    /// forest: the zone it watches; meter: its transformer; traffic: its junction; water: its DMA.
    public var zone: String? {
        get { box.fields.zone }
        set { change { $0.zone = newValue } }
    }
    /// Expected reporting interval; stale after 3 x interval.
    public var intervalMillis: Int64 {
        get { box.fields.intervalMillis }
        set { change { $0.intervalMillis = newValue } }
    }
    public var latitude: Double? {
        get { box.fields.latitude }
        set { change { $0.latitude = newValue } }
    }
    public var longitude: Double? {
        get { box.fields.longitude }
        set { change { $0.longitude = newValue } }
    }
    /// Metric name -> unit.
    public var metrics: [String: String] {
        get { box.fields.metrics }
        set { change { $0.metrics = newValue } }
    }
    /// hydro: alarm levels I, II, III in metres.
    public var alarmLevelsM: [Double]? {
        get { box.fields.alarmLevelsM }
        set { change { $0.alarmLevelsM = newValue } }
    }
    /// traffic: free-flow speed.
    public var freeFlowKmh: Double? {
        get { box.fields.freeFlowKmh }
        set { change { $0.freeFlowKmh = newValue } }
    }
    /// meter: the transformer's own meter, or a customer meter.
    public var role: MeterRole? {
        get { box.fields.role }
        set { change { $0.role = newValue } }
    }
    /// A station with no zone: the susceptibility and region of where it stands (a zone's
    /// take precedence).
    public var susceptibility: Susceptibility? {
        get { box.fields.susceptibility }
        set { change { $0.susceptibility = newValue } }
    }
    public var region: Int? {
        get { box.fields.region }
        set { change { $0.region = newValue } }
    }
    /// A LoRaWAN device reporting as this station: its EUI (16 hex digits, upper or lower
    /// case) or its network server's device id (The Things Stack).
    public var devEUI: String? {
        get { box.fields.devEUI }
        set { change { $0.devEUI = newValue } }
    }
    public var deviceID: String? {
        get { box.fields.deviceID }
        set { change { $0.deviceID = newValue } }
    }

    public init(id: String, kind: SensorKind, unit: String, zone: String? = nil, intervalMillis: Int64) {
        box = Box(Fields(id: id, kind: kind, unit: unit, zone: zone, intervalMillis: intervalMillis))
    }

    public static func == (a: SensorEntry, b: SensorEntry) -> Bool { a.box === b.box || a.box.fields == b.box.fields }

    private mutating func change(_ body: (inout Fields) -> Void) {
        var f = box.fields
        body(&f)
        box = Box(f)
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private struct Fields: Sendable, Equatable {
        var id: String
        var name: String? = nil
        var kind: SensorKind
        var unit: String
        var zone: String? = nil
        var intervalMillis: Int64
        var latitude: Double? = nil
        var longitude: Double? = nil
        var metrics: [String: String] = [:]
        var alarmLevelsM: [Double]? = nil
        var freeFlowKmh: Double? = nil
        var role: MeterRole? = nil
        var susceptibility: Susceptibility? = nil
        var region: Int? = nil
        var devEUI: String? = nil
        var deviceID: String? = nil
    }
}

/// The sensor catalogue (`sensors/*.yaml`, README "Sensor catalogue"): the areas coverage is
/// measured over, and the sensors expected to report, with what each one means.
public struct Catalogue: Sendable, Equatable {
    public let zones: [Zone]
    public let sensors: [SensorEntry]
    /// District ids, when the catalogue declares them (then sensors and zones must use them).
    public let districts: [String]
    /// Display names of districts (with diacritics: `muong-te` is "Mường Tè"); ids stay ASCII.
    public let districtNames: [String: String]
    private let sensorIndex: [String: Int]

    public init(zones: [Zone] = [], sensors: [SensorEntry] = [], districts: [String] = [], districtNames: [String: String] = [:]) {
        self.zones = zones
        self.sensors = sensors
        self.districts = districts
        self.districtNames = districtNames
        sensorIndex = Dictionary(sensors.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func sensor(_ id: String) -> SensorEntry? { sensorIndex[id].map { sensors[$0] } }
    /// The position of sensor `id` in `sensors`.
    public func index(ofSensor id: String) -> Int? { sensorIndex[id] }
    public func zone(_ id: String) -> Zone? { zones.first { $0.id == id } }
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
    public var district: String
    public var commune: String?
    public var areaHa: Double
    /// Flash-flood and landslide susceptibility of the area (for the flood-risk level).
    public var susceptibility: Susceptibility?
    /// The natural-disaster region (khu vực 1-4 of Decision 18/2021) when it is not the
    /// province's: a merged province can span two.
    public var region: Int?

    public init(id: String, kind: SensorKind, district: String, commune: String? = nil, areaHa: Double,
                susceptibility: Susceptibility? = nil, region: Int? = nil) {
        self.id = id
        self.kind = kind
        self.district = district
        self.commune = commune
        self.areaHa = areaHa
        self.susceptibility = susceptibility
        self.region = region
    }
}

/// One catalogued sensor.
public struct SensorEntry: Sendable, Equatable {
    /// meter: `feeder` (the transformer's own) or `customer`; water: `inflow` (the DMA's),
    /// `customer`, or `pressure` (a logger at one of its critical points).
    public enum MeterRole: String, Sendable { case feeder, customer, inflow, pressure }

    public var id: String
    /// A display name (with diacritics), if the catalogue gives one.
    public var name: String?
    public var kind: SensorKind
    public var district: String
    /// forest: the zone it watches; meter: its transformer; traffic: its junction; water: its DMA.
    public var zone: String?
    /// Expected reporting interval; stale after 3 x interval.
    public var intervalMillis: Int64
    public var latitude: Double?
    public var longitude: Double?
    /// Metric name -> unit.
    public var metrics: [String: String] = [:]
    /// hydro: alarm levels I, II, III in metres.
    public var alarmLevelsM: [Double]?
    /// traffic: free-flow speed.
    public var freeFlowKmh: Double?
    /// meter: the transformer's own meter, or a customer meter.
    public var role: MeterRole?
    /// A station with no zone: the susceptibility and region of where it stands (a zone's
    /// take precedence).
    public var susceptibility: Susceptibility?
    public var region: Int?

    public init(id: String, kind: SensorKind, district: String, zone: String? = nil, intervalMillis: Int64) {
        self.id = id
        self.kind = kind
        self.district = district
        self.zone = zone
        self.intervalMillis = intervalMillis
    }
}

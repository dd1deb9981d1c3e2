import Telemetry

/// A station's derived series that are computed together from the same inputs. A late input
/// (older than one already seen of its series) makes its families at that station dirty: they
/// take no more readings until they are recomputed from the stored inputs, from the late
/// input's time on, and the result replaces what was stored from then on
/// (`DerivedSeries.recomputeDirty`, a `SeriesCorrection` per output).
///
/// Energy loss and water balance are not families: they are reported once their hour or day
/// is complete, whatever the order. The zone, unit and junction maxima are recomputed on
/// their own (`DerivedSeries+Scopes`).
enum DerivedFamily: Int, CaseIterable, Hashable, Sendable {
    /// `rain_mm` -> `rain_24h_mm`, `flood_risk_level`.
    case rain
    /// Forest stations' `temp_c`, `rh_pct`, `rain_mm` -> `fire_danger_p`, `fire_danger_level`.
    case fire
    /// River stations with alarm levels: `level_m` -> `water_alarm_level`, `level_rise_m_h`.
    case river
    /// `pm25_ugm3`, `pm10_ugm3` -> `aqi`, `aqi_24h`.
    case air

    /// The metrics it is computed from at a station like `entry` (empty: none there).
    func inputs(at entry: SensorEntry) -> [String] {
        switch self {
        case .rain: ["rain_mm"]
        case .fire: entry.kind == .forest ? FireDangerStage.inputs.sorted() : []
        case .river: entry.alarmLevelsM != nil ? ["level_m"] : []
        case .air: ["pm10_ugm3", "pm25_ugm3"]
        }
    }

    /// The series it derives for a station.
    var outputs: [String] {
        switch self {
        case .rain: ["rain_24h_mm", "flood_risk_level"]
        case .fire: ["fire_danger_p", "fire_danger_level"]
        case .river: ["water_alarm_level", "level_rise_m_h"]
        case .air: ["aqi", "aqi_24h"]
        }
    }

    /// The families a reading of `metric` at `entry` feeds (none for most metrics).
    static func fed(by metric: String, at entry: SensorEntry) -> FamilySet {
        switch metric {
        case "rain_mm": entry.kind == .forest ? FamilySet(.rain, .fire) : FamilySet(.rain)
        case "temp_c", "rh_pct": entry.kind == .forest ? FamilySet(.fire) : FamilySet()
        case "level_m": entry.alarmLevelsM != nil ? FamilySet(.river) : FamilySet()
        case "pm25_ugm3", "pm10_ugm3": FamilySet(.air)
        default: FamilySet()
        }
    }
}

/// A set of families in one byte (the hot path allocates nothing).
struct FamilySet: Sequence, Sendable {
    private var bits: UInt8 = 0

    init() {}
    init(_ f: DerivedFamily) { insert(f) }
    init(_ f: DerivedFamily, _ g: DerivedFamily) { insert(f); insert(g) }

    var isEmpty: Bool { bits == 0 }
    func contains(_ f: DerivedFamily) -> Bool { bits & (1 << UInt8(f.rawValue)) != 0 }
    mutating func insert(_ f: DerivedFamily) { bits |= 1 << UInt8(f.rawValue) }

    func makeIterator() -> Iterator { Iterator(bits: bits) }

    /// The families in it, in raw-value order (no array).
    struct Iterator: IteratorProtocol {
        var bits: UInt8
        mutating func next() -> DerivedFamily? {
            guard bits != 0 else { return nil }
            let i = bits.trailingZeroBitCount
            bits &= bits - 1
            return DerivedFamily(rawValue: i)
        }
    }
}

/// One family at one station.
struct FamilyKey: Hashable, Sendable, Comparable {
    var sensor: String
    var family: DerivedFamily

    static func < (a: FamilyKey, b: FamilyKey) -> Bool { (a.sensor, a.family.rawValue) < (b.sensor, b.family.rawValue) }
}

/// Sensor-id prefixes reserved for series the collector derives: coverage indicators
/// (`coverage.<scope>`) and zone or district maxima (`zone.<id>`, `district.<id>`). The
/// catalogue may not use them for real sensors.
public enum DerivedScope {
    public static let prefixes = ["coverage.", "zone.", "district."]

    public static func isDerived(_ sensorID: String) -> Bool {
        prefixes.contains { sensorID.hasPrefix($0) }
    }
}

/// Sensor-id prefixes reserved for series the collector derives: coverage indicators
/// (`coverage.<scope>`), zone or district maxima (`zone.<id>`, `district.<id>`), transformer
/// figures (`transformer.<id>`) and junction maxima (`junction.<id>`). The
/// catalogue may not use them for real sensors.
public enum DerivedScope {
    public static let prefixes = ["coverage.", "zone.", "district.", "transformer.", "junction.", "dma."]

    public static func isDerived(_ sensorID: String) -> Bool {
        prefixes.contains { sensorID.hasPrefix($0) }
    }
}

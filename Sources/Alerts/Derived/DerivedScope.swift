/// Sensor-id prefixes reserved for series the collector derives: coverage indicators
/// (`coverage.<scope>`), zone or unit maxima (`zone.<id>`, `unit.<id>`; `district.<id>` in
/// stores written before units), transformer figures (`transformer.<id>`), junction maxima
/// (`junction.<id>`) and water balances (`dma.<id>`). The catalogue may not use them for real
/// sensors.
public enum DerivedScope {
    public static let prefixes = ["coverage.", "zone.", "unit.", "district.", "transformer.", "junction.", "dma."]

    public static func isDerived(_ sensorID: String) -> Bool {
        prefixes.contains { sensorID.hasPrefix($0) }
    }

    /// The scopes computed over the whole province: with partitions on a shared store, by the
    /// province lease's holder (coverage, zone, unit and junction maxima, DMAs' water
    /// balances, transformers' figures), not by each partition.
    public static let provincePrefixes = ["coverage.", "zone.", "unit.", "junction.", "dma.", "transformer."]

    /// Whether `subject` (a sensor id, or `sensor:metric`) is a province-wide scope.
    public static func isProvinceWide(_ subject: String) -> Bool {
        provincePrefixes.contains { subject.hasPrefix($0) }
    }
}

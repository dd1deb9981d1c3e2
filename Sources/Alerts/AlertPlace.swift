import Telemetry

/// Where an alert's subject is: the unit and zone of a catalogued sensor, of a derived
/// scope's entry (a transformer), or named by the scope itself (`zone.<id>`, `unit.<id>`, or
/// a legacy `district.<id>`). Province-wide subjects (`coverage.*`) and unknown sensors have none.
public enum AlertPlace {
    /// `sensor`: the subject's sensor id (the part before `:` of a `sensor:metric` subject).
    public static func of(sensor: String, entry: SensorEntry?, catalogue: Catalogue) -> (unit: String?, zone: String?) {
        if let entry { return (entry.unit, entry.zone) }
        if sensor.hasPrefix("zone."), let z = catalogue.zone(String(sensor.dropFirst(5))) { return (z.unit, z.id) }
        if sensor.hasPrefix("unit.") { return (String(sensor.dropFirst(5)), nil) }
        if sensor.hasPrefix("district.") { return (String(sensor.dropFirst(9)), nil) }
        return (nil, nil)
    }
}

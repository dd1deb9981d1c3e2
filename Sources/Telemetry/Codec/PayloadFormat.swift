/// The payload formats a subscription can expect. `auto` detects per message (JSON, SenML or
/// line protocol); the LoRaWAN network servers' uplink events are named (`chirpstack`, `ttn`).
public enum PayloadFormat: String, Sendable, CaseIterable {
    case auto, json, senml, influx, chirpstack, ttn
}

/// The payload formats a subscription can expect. `auto` detects per message.
public enum PayloadFormat: String, Sendable, CaseIterable {
    case auto, json, senml, influx
}

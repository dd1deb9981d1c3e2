/// The payload formats a subscription can expect. `auto` detects per message.
public enum PayloadFormat: String, Sendable, CaseIterable {
    case auto, json, senml, influx

    /// Formats this build decodes (SenML and line protocol come with the ingest issue).
    public static let implemented: Set<PayloadFormat> = [.auto, .json]
}

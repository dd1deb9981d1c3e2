/// A rejected message as kept in quarantine: when, where from, why, and its first 1 KiB.
public struct QuarantineRecord: Sendable, Equatable {
    /// How much of a payload quarantine keeps.
    public static let payloadPrefix = 1024

    public var received: EpochMillis
    public var topic: String
    /// A short code, used as a metric label (e.g. `bad_json`, `time_out_of_range`).
    public var reason: String
    /// What exactly was wrong, for a person.
    public var detail: String
    public var payload: [UInt8]

    public init(received: EpochMillis, topic: String, reason: String, detail: String, payload: some Collection<UInt8>) {
        self.received = received
        self.topic = topic
        self.reason = reason
        self.detail = detail
        self.payload = Array(payload.prefix(Self.payloadPrefix))
    }
}

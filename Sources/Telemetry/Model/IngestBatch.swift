/// What one loop iteration collected: readings bound to series, and rejected messages.
/// Committed as one transaction by `TelemetryStore.commit`.
public struct IngestBatch: Sendable {
    public var readings: [BoundReading] = []
    public var quarantine: [QuarantineRecord] = []
    /// Messages accepted into `readings` (for counters).
    public var acceptedMessages = 0
    /// LoRaWAN uplinks taken whose frame was stored already (nothing of them bound).
    public var repeatedFrames = 0

    public init() {}

    public var isEmpty: Bool { readings.isEmpty && quarantine.isEmpty }

    public mutating func removeAll() {
        readings.removeAll(keepingCapacity: true)
        quarantine.removeAll(keepingCapacity: true)
        acceptedMessages = 0
        repeatedFrames = 0
    }
}

import Synchronization

/// What `/readyz` reports: whether MQTT is connected and storage accepts commits, with the
/// reason when not. Written by the ingest thread, read by HTTP handlers.
final class CollectorStatus: Sendable {
    struct Snapshot: Sendable, Equatable {
        var mqttConnected = false
        var mqttDetail = "not connected yet"
        /// A standby of a partition: not connected on purpose, and ready (it answers queries).
        var standby = false
        var storageOK = true
        var storageDetail = ""
    }

    private let state = Mutex(Snapshot())

    var snapshot: Snapshot { state.withLock { $0 } }

    func mqtt(connected: Bool, _ detail: String, standby: Bool = false) {
        state.withLock { $0.mqttConnected = connected; $0.mqttDetail = detail; $0.standby = standby }
    }

    func storage(ok: Bool, _ detail: String) {
        state.withLock { $0.storageOK = ok; $0.storageDetail = detail }
    }

    /// Nil when ready, else why not.
    var notReadyReason: String? {
        let s = snapshot
        if !s.storageOK { return "storage: \(s.storageDetail)" }
        if !s.mqttConnected && !s.standby { return "mqtt: \(s.mqttDetail)" }
        return nil
    }
}

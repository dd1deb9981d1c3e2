import Telemetry

/// Where alerts are kept: the collector's SQLite file (`AlertStore`), or the PostgreSQL store
/// several collectors share (`PostgresAlertStore`). One live row per (rule, subject); an
/// acknowledgement is kept on its row until the alert resolves or its severity rises.
public protocol AlertRecords: Sendable {
    /// Stores what the engine decided; returns the events with their alert ids and their
    /// acknowledgements as stored (given over the API, perhaps through another collector).
    func apply(_ events: [AlertEvent], now: EpochMillis) throws -> [AlertEvent]
    /// `apply` under fencing tokens (partitions over a shared store: `AlertFence`); a store
    /// that is not shared has nothing to check.
    func apply(_ events: [AlertEvent], now: EpochMillis, fence: AlertFence) throws -> [AlertEvent]
    /// The pending and firing alerts this collector's engine answers for (at start, and when
    /// it takes a partition over).
    func live() throws -> [Alert]
    /// The pending and firing alerts of the province-wide scopes (`DerivedScope.provincePrefixes`),
    /// which the province lease's holder answers for; none where alerts are not shared.
    func provinceLive() throws -> [Alert]
    /// Alerts in the given states, newest first.
    func list(states: [String], limit: Int) async throws -> [Alert]
    /// Marks an alert acknowledged; nil when there is no such alert.
    func acknowledge(id: Int64, by: String, note: String?, at: EpochMillis) async throws -> Alert?
    /// Acknowledges those of `ids` that are still live and not acknowledged yet, in one
    /// transaction; returns them as they are now.
    func acknowledge(ids: [Int64], by: String, note: String?, at: EpochMillis) async throws -> [Alert]
}

extension AlertRecords {
    public func provinceLive() throws -> [Alert] { [] }
    public func apply(_ events: [AlertEvent], now: EpochMillis, fence: AlertFence) throws -> [AlertEvent] {
        try apply(events, now: now)
    }
}

import Alerts
import Telemetry

/// With partitions on a shared store, the province lease's holder computes the zone, unit and
/// junction maxima from the members' values every partition stored
/// (`DerivedSeries.recomputeScopes`); no partition computes any. What changed since the last
/// time is in the store's `series_changes` (each commit and correction of a member series
/// notes the earliest time it changed); the members' values are read from the store.
final class SharedScopes: SampleHistory {
    private let store: PostgresStore

    /// The metrics of scope members, which the writers' commits note in `series_changes`.
    static let memberMetrics: Set<String> = ["fire_danger_p", "flood_risk_level", "congestion"]

    /// Reads through `store` (the alert worker's connection).
    init(store: PostgresStore) { self.store = store }

    func changes() throws -> [PostgresStore.SeriesChange] { try store.changes() }

    func clear(_ handled: [PostgresStore.SeriesChange]) throws { try store.clearChanges(handled) }

    // MARK: SampleHistory, over the shared store

    func recent(_ id: SeriesID) -> [Sample] { [] }

    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try store.samples(name, from: from, to: to)
    }

    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try store.samples(name, from: from, to: to)
    }

    func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        try store.sample(name, before: before)
    }
}

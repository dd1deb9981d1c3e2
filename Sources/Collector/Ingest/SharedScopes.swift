import Alerts
import Telemetry

/// With partitions on a shared store, the province lease's holder computes the zone, unit and
/// junction maxima from the members' values every partition stored, and the DMAs' water
/// balances and transformers' energy losses from their meters' readings
/// (`DerivedSeries.recomputeScopes`); no partition computes any. What changed since the last
/// time is in the store's `series_changes` (each commit and correction of a member series
/// notes the earliest time it changed); the members' values are read from the store.
final class SharedScopes {
    private let store: PostgresStore
    /// The members' values, read from the store.
    let history: PostgresHistory

    /// The metrics of scope members (and water and power meters' readings), which the
    /// writers' commits note in `series_changes`.
    static let memberMetrics: Set<String> = ["fire_danger_p", "flood_risk_level", "congestion", "volume_m3", "kwh", "last_gasp"]

    /// Whether a commit of `name` is noted in `series_changes`: a scope member's series (not a
    /// scope's own, though it has the same metric).
    @Sendable static func tracks(_ name: SeriesName) -> Bool {
        memberMetrics.contains(name.metric) && !DerivedScope.isDerived(name.sensor)
    }

    /// Reads and writes through `store` (a connection of the alert worker's own).
    init(store: PostgresStore) {
        self.store = store
        history = PostgresHistory(store: store)
    }

    func changes() throws -> [PostgresStore.SeriesChange] { try store.changes() }

    /// Stores the scopes' corrections and clears the changes they answer, in one transaction
    /// fenced by the province lease.
    func store(_ corrections: [SeriesCorrection], clearing handled: [PostgresStore.SeriesChange], fence: PostgresStore.Fence) throws {
        try store.replace(corrections, fence: fence, clearing: handled)
    }
}

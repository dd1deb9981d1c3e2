import Alerts
import Telemetry

/// A shared PostgreSQL store as the history the derived series read (`SampleHistory`): what
/// every collector of it has stored. Nothing is handed over apart from it (`recent` is empty,
/// and `history` holds everything stored).
final class PostgresHistory: SampleHistory {
    let store: PostgresStore

    init(store: PostgresStore) { self.store = store }

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

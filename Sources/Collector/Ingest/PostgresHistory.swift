import Alerts
import Telemetry

/// A shared PostgreSQL store as the history the derived series read (`SampleHistory`): what
/// every collector of it has stored. Nothing is handed over apart from it (`recent` is empty,
/// and `history` holds everything stored). A round of the province's scopes reads its series
/// ahead (`prefetch`), a few hundred a statement: one at a time, a round after a backlog took
/// seconds of round trips on the alert worker.
final class PostgresHistory: SampleHistory {
    let store: PostgresStore
    /// What `prefetch` read: each series' samples from a time on.
    private var ahead: [SeriesName: (from: EpochMillis, samples: [Sample])] = [:]

    init(store: PostgresStore) { self.store = store }

    func recent(_ id: SeriesID) -> [Sample] { [] }

    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        if let read = ahead[name], from >= read.from {
            let s = read.samples
            return Array(s[s.firstIndex(notBefore: from) { $0.time }..<s.firstIndex(notBefore: to) { $0.time }])
        }
        return try store.samples(name, from: from, to: to)
    }

    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try history(name, from: from, to: to)
    }

    func prefetch(_ wanted: [SeriesName: EpochMillis]) throws {
        ahead = [:]
        let read = try store.samples(named: wanted.map { ($0.key, $0.value) })
        for (name, from) in wanted { ahead[name] = (from, read[name] ?? []) }
    }

    func forgetPrefetched() { ahead = [:] }

    func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        // From what was read ahead when it holds one before `before` (it holds every sample
        // from its start on); else the store, which may hold an older one.
        if let read = ahead[name], read.from < before {
            let k = read.samples.firstIndex(notBefore: before) { $0.time }
            if k > 0 { return read.samples[k - 1] }
        }
        return try store.sample(name, before: before)
    }
}

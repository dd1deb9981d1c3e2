import GRDB

/// The latest samples of each series in ring buffers, for the stages after storage (rate
/// rules, a river's rise), and the stored history those stages rebuild their state from.
///
/// One thread owns it (the alert worker). It reads storage through the pool's readers, so it
/// never waits for the ingest thread's commits.
public final class RecentSamples {
    private let pool: DatabasePool
    /// The store's readings not yet written to `raw`: storage is `raw` and these.
    private let pending: RawPending?
    private var rings: SeriesRings
    /// Whether a ring has been filled from storage (done lazily, on first `recent`).
    private var loaded: ContiguousArray<Bool> = []
    /// Ids of the series asked for by name, found in storage: the stages ask for few (the
    /// catalogued sensors' inputs), so this is not a second copy of the registry.
    private var ids: [SeriesName: SeriesID] = [:]

    public init(pool: DatabasePool, pending: RawPending? = nil, capacity: Int = 128) {
        self.pool = pool
        self.pending = pending
        rings = SeriesRings(capacity: capacity)
    }

    /// Records committed readings (call before the stages look at them).
    public func record(_ readings: [BoundReading]) {
        for r in readings {
            grow(to: r.series.index)
            rings.record(Sample(time: r.time, value: r.value), of: r.series)
        }
    }

    private func grow(to i: Int) {
        guard i >= loaded.count else { return }
        rings.reserve(seriesCount: i + 1)
        loaded.append(contentsOf: repeatElement(false, count: i + 1 - loaded.count))
    }

    /// The latest samples of a series (oldest first). The first call for a series fills its
    /// ring from storage, so that rates look back across a restart.
    public func recent(_ id: SeriesID) -> [Sample] {
        let i = id.index
        grow(to: i)
        if !loaded[i] {
            loaded[i] = true
            // Pending first, then storage (see `RawPending`).
            let recent = pending?.samples(of: id, from: .min, to: .max) ?? []
            // One statement, so no transaction is needed around it (here and below).
            if let stored = try? pool.unsafeRead({ db in
                try BlockStore.newest(rings.capacity, series: id, db)
            }) {
                for s in RawPending.merged(stored, recent).suffix(rings.capacity) { rings.record(s, of: id) }
            }
        }
        return rings.samples(of: id)
    }

    /// A correction of a derived series (`SeriesCorrection`): its ring keeps its samples
    /// before `from` and takes `samples` for the rest.
    public func replace(_ name: SeriesName, from: EpochMillis, with samples: [Sample]) throws {
        guard let id = try storedID(name), id.index < loaded.count else { return }
        let kept = rings.samples(of: id).filter { $0.time < from }
        rings.clear(id)
        for s in (kept + samples).suffix(rings.capacity) { rings.record(s, of: id) }
    }

    /// Stored samples of `name` with `from <= t < to`, oldest first, and the series' id; nil
    /// for a series not stored yet.
    public func stored(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> (id: SeriesID, samples: [Sample])? {
        guard let id = try storedID(name) else { return nil }
        let recent = pending?.samples(of: id, from: from, to: to) ?? []
        return try pool.unsafeRead { db in
            (id, RawPending.merged(try BlockStore.samples(series: id, from: from, to: to, db), recent))
        }
    }

    /// The newest stored sample of `name` before `before`.
    public func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        guard let id = try storedID(name) else { return nil }
        let recent = pending?.samples(of: id, from: .min, to: before).last
        let stored = try pool.unsafeRead { db in
            try BlockStore.newest(1, series: id, before: before, db).first
        }
        guard let recent else { return stored }
        guard let stored else { return recent }
        return recent.time >= stored.time ? recent : stored
    }

    private func storedID(_ name: SeriesName) throws -> SeriesID? {
        if let id = ids[name] { return id }
        let id = try pool.unsafeRead { db in
            // Cached per reader connection: the alert worker asks this for every new tracker.
            let byName = try db.cachedStatement(sql: "SELECT id FROM series WHERE name = ?")
            return try Int32.fetchOne(byName, arguments: [name.description]).map(SeriesID.init)
        }
        if let id { ids[name] = id }   // ids never change; a series not stored yet may come
        return id
    }
}

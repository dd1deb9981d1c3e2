/// What `RollupVerifier` reads from a store: its series, their raw readings and their stored
/// rollup buckets. The SQLite store answers through `TelemetryReader`, the PostgreSQL store
/// itself, so both are checked by the same recompute.
public protocol RollupSource: Sendable {
    /// Every stored series.
    func verifiedSeries() async throws -> [(id: SeriesID, name: SeriesName)]
    /// Raw readings of `id` with `from <= t < to`, oldest first, at most `limit`; `more`: a
    /// later one exists.
    func rawPage(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws -> (samples: [Sample], more: Bool)
    /// The stored buckets of `id` in `tier` that start in `[from, to)`.
    func storedBuckets(_ id: SeriesID, tier: Tier, from: EpochMillis, to: EpochMillis) async throws -> [EpochMillis: Bucket]
    /// Per tier, how many series answer it from raw readings rather than storing it.
    func tiersFromRaw() async throws -> [Tier: Int]
}

extension TelemetryReader: RollupSource {
    public func verifiedSeries() async throws -> [(id: SeriesID, name: SeriesName)] {
        try await seriesList().map { ($0.id, $0.name) }
    }

    public func rawPage(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws -> (samples: [Sample], more: Bool) {
        let (points, truncated) = try await raw(id, from: from, to: to, limit: limit)
        return (points, truncated)
    }

    public func storedBuckets(_ id: SeriesID, tier: Tier, from: EpochMillis, to: EpochMillis) async throws -> [EpochMillis: Bucket] {
        try await rollups([id], plan: StepPlan(step: tier.description)!, from: from, to: to)[id] ?? [:]
    }

    public func tiersFromRaw() async throws -> [Tier: Int] {
        try await pool.read { try TierSizing.counts($0) }
    }
}

/// What the HTTP API (and `collector query`, which serves it in-process) asks of a store:
/// raw readings, rollups in the buckets of a step, grouped rollups, the series list, the
/// newest readings and the quarantine. SQLite answers through `TelemetryReader`, a shared
/// PostgreSQL store through `PostgresReader`, so both give the same answers to the same API.
public protocol TelemetryQueries: Sendable {
    /// Whether the store answers at all (for readiness).
    func ping() async throws
    func seriesID(_ name: SeriesName) async throws -> SeriesID?
    /// Raw readings with `from <= t < to`, oldest first, at most `limit` (`truncated`: more exist).
    func raw(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws -> (points: [Sample], truncated: Bool)
    /// Raw readings with `from <= t < to` downsampled to `threshold` points (LTTB).
    func rawDownsampled(_ id: SeriesID, from: EpochMillis, to: EpochMillis, threshold: Int) async throws -> [Sample]
    /// Buckets of `plan` for many series: (series, bucket start) -> merged bucket.
    func rollups(_ ids: [SeriesID], plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [SeriesID: [EpochMillis: Bucket]]
    /// `rollups` of one series by name, its buckets in time order; nil when no such series is stored.
    func rollups(named name: SeriesName, plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [(start: EpochMillis, bucket: Bucket)]?
    /// Count, sum, minimum and maximum merged per group (`groupOf`: series -> group index), in
    /// the buckets of `plan`, each group's buckets in time order.
    func groupedRollups(_ groupOf: [SeriesID: Int], groupCount: Int, plan: StepPlan,
                        from: EpochMillis, to: EpochMillis) async throws -> [[(start: EpochMillis, bucket: GroupBucket)]]
    /// Every stored series by name, with its newest reading.
    func seriesList() async throws -> [TelemetryReader.SeriesInfo]
    /// Up to `limit` series by name after `after` (all for a negative limit).
    func seriesPage(after: String?, limit: Int, pendingNewest: [SeriesID: Sample]?) async throws -> [TelemetryReader.SeriesInfo]
    /// The newest reading of each series not yet in storage (empty where commits are whole).
    func pendingNewest() -> [SeriesID: Sample]
    /// The newest reading of `name`.
    func latest(_ name: SeriesName) async throws -> Sample?
    /// The newest reading time of each sensor that has reported.
    func sensorsLastSeen() async throws -> [String: EpochMillis]
    /// The newest quarantined messages (optionally of one reason), newest first.
    func quarantine(limit: Int, reason: String?) async throws -> [QuarantineRecord]
    /// How many quarantined messages there are per reason, by reason.
    func quarantineCounts() async throws -> [(reason: String, count: Int)]
}

extension TelemetryReader: TelemetryQueries {}

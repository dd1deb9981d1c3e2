import Foundation

/// The API's queries (`TelemetryQueries`) answered from a shared PostgreSQL store: what every
/// collector of the database has committed, whichever wrote it. Commits there are whole (no
/// readings wait outside the tables), so an answer holds every commit that returned before
/// the query began; read from a streaming replica it lags the primary by the replication
/// delay (none for a synchronous `remote_apply` standby).
public struct PostgresReader: TelemetryQueries {
    public let store: PostgresStore
    private let days: LocalDays
    private let zone: TimeZone

    public init(store: PostgresStore, timeZone: TimeZoneID) {
        self.store = store
        days = LocalDays(timeZone: timeZone.zone)
        zone = timeZone.zone
    }

    public func ping() async throws { try store.ping() }

    public func seriesID(_ name: SeriesName) async throws -> SeriesID? { try store.seriesID(name) }

    public func raw(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws -> (points: [Sample], truncated: Bool) {
        let page = try store.samples(id, from: from, to: to, limit: limit)
        return (page.samples, page.more)
    }

    public func rawDownsampled(_ id: SeriesID, from: EpochMillis, to: EpochMillis, threshold: Int) async throws -> [Sample] {
        LTTB.downsample(try store.samples(id, from: from, to: to, limit: .max).samples, to: threshold)
    }

    public func rollups(_ ids: [SeriesID], plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [SeriesID: [EpochMillis: Bucket]]
    {
        var out: [SeriesID: [EpochMillis: Bucket]] = [:]
        let lower = plan.tier.bucket(containing: from, days: days).start
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            for (id, start, b) in try store.buckets(chunk, tier: plan.tier, from: lower, to: to) {
                out[id, default: [:]][plan.bucket(start, timeZone: zone), default: .empty].merge(b)
            }
        }
        return out
    }

    public func rollups(named name: SeriesName, plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws -> [EpochMillis: Bucket]? {
        guard let id = try store.seriesID(name) else { return nil }
        return try await rollups([id], plan: plan, from: from, to: to)[id] ?? [:]
    }

    public func groupedRollups(_ groupOf: [SeriesID: Int], groupCount: Int, plan: StepPlan,
                               from: EpochMillis, to: EpochMillis) async throws -> [[(start: EpochMillis, bucket: GroupBucket)]] {
        var groups = [[EpochMillis: GroupBucket]](repeating: [:], count: max(groupCount, 0))
        let ids = groupOf.keys.sorted { $0.rawValue < $1.rawValue }
        let lower = plan.tier.bucket(containing: from, days: days).start
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            for (id, start, b) in try store.buckets(chunk, tier: plan.tier, from: lower, to: to) {
                guard let g = groupOf[id], g >= 0, g < groups.count else { continue }
                groups[g][plan.bucket(start, timeZone: zone), default: .empty]
                    .merge(GroupBucket(count: b.count, sum: b.sum, min: b.min, max: b.max))
            }
        }
        return groups.map { $0.sorted { $0.key < $1.key }.map { (start: $0.key, bucket: $0.value) } }
    }

    public func seriesList() async throws -> [TelemetryReader.SeriesInfo] { try store.seriesInfo(after: nil, limit: -1) }

    public func seriesPage(after: String?, limit: Int, pendingNewest: [SeriesID: Sample]?) async throws -> [TelemetryReader.SeriesInfo] {
        try store.seriesInfo(after: after, limit: limit)
    }

    public func pendingNewest() -> [SeriesID: Sample] { [:] }

    public func latest(_ name: SeriesName) async throws -> Sample? { try store.latest(name) }

    public func sensorsLastSeen() async throws -> [String: EpochMillis] { try store.sensorsLastSeen() }

    public func quarantine(limit: Int, reason: String?) async throws -> [QuarantineRecord] {
        try store.quarantined(limit: limit, reason: reason, newestFirst: true)
    }

    public func quarantineCounts() async throws -> [(reason: String, count: Int)] { try store.quarantineCounts() }
}

import Foundation
import Synchronization

/// The API's queries (`TelemetryQueries`) answered from a shared PostgreSQL store: what every
/// collector of the database has committed, whichever wrote it. Commits there are whole (no
/// readings wait outside the tables), so an answer holds every commit that returned before
/// the query began; read from a streaming replica it lags the primary by the replication
/// delay (none for a synchronous `remote_apply` standby).
///
/// Each store holds one connection, used by one call at a time: a reader given several takes
/// them in turn, and runs the blocking calls on Dispatch's threads, not the tasks' (which a
/// slow query would otherwise hold from every other request).
public final class PostgresReader: TelemetryQueries {
    private let stores: [PostgresStore]
    private let turn = Atomic<Int>(0)
    private let days: LocalDays
    private let zone: TimeZone

    /// How far behind its primary a standby may be and still count as ready (nil: not checked).
    private let maxLagSeconds: Double?
    /// A standby's received positions at recent readiness checks (`ping`).
    private let received = Mutex<[(position: UInt64, at: ContinuousClock.Instant)]>([])

    /// Reads through `stores` (at least one), in turn; `maxLagSeconds`: see `ping`.
    public init(stores: [PostgresStore], timeZone: TimeZoneID, maxLagSeconds: Double? = nil) {
        precondition(!stores.isEmpty, "a reader needs a store")
        self.stores = stores
        self.maxLagSeconds = maxLagSeconds
        days = LocalDays(timeZone: timeZone.zone)
        zone = timeZone.zone
    }

    public convenience init(store: PostgresStore, timeZone: TimeZoneID) {
        self.init(stores: [store], timeZone: timeZone)
    }

    /// `body` on the next store, on a Dispatch thread.
    private func run<T: Sendable>(_ body: @escaping @Sendable (PostgresStore) throws -> T) async throws -> T {
        let store = stores[turn.wrappingAdd(1, ordering: .relaxed).oldValue % stores.count]
        return try await blocking { try body(store) }
    }

    /// Readiness: the server answers, and, when it is a standby and `maxLagSeconds` is set,
    /// it streams from the primary and has applied everything it had received `maxLagSeconds`
    /// ago. (Progress, not the age of the last commit applied: an idle primary, or a long
    /// write with no commit in it, makes that age grow while the standby keeps up.)
    public func ping() async throws {
        guard let maxLagSeconds else { return try await run { try $0.ping() } }
        let state = try await run { try $0.replicaState() }
        guard state.isStandby else { return }
        if state.streaming == false { throw NotReady("the standby does not stream from the primary") }
        let now = ContinuousClock.now
        let limit = Duration.milliseconds(Int64(maxLagSeconds * 1000))
        let behind = received.withLock { seen -> Bool in
            // The positions received at earlier checks: the newest one at least `limit` old is
            // the mark it must have applied by now (kept first for the next checks).
            seen.append((state.received, now))
            defer { if seen.count > 1_000 { seen.removeFirst(seen.count - 1_000) } }
            guard let k = seen.lastIndex(where: { now - $0.at >= limit }) else { return false }
            seen.removeFirst(k)
            return state.applied < seen[0].position
        }
        if behind {
            throw NotReady("the standby has not yet applied what it had received \(Int(maxLagSeconds)) s ago (--max-lag)")
        }
    }

    /// Why a reader is not ready.
    public struct NotReady: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public func seriesID(_ name: SeriesName) async throws -> SeriesID? { try await run { try $0.seriesID(name) } }

    public func raw(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws -> (points: [Sample], truncated: Bool) {
        let page = try await run { try $0.samples(id, from: from, to: to, limit: limit) }
        return (page.samples, page.more)
    }

    public func rawDownsampled(_ id: SeriesID, from: EpochMillis, to: EpochMillis, threshold: Int) async throws -> [Sample] {
        try await run { LTTB.downsample(try $0.samples(id, from: from, to: to, limit: .max).samples, to: threshold) }
    }

    public func rollups(_ ids: [SeriesID], plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [SeriesID: [EpochMillis: Bucket]]
    {
        let lower = plan.tier.bucket(containing: from, days: days).start
        let zone = self.zone
        return try await run { store in
            var out: [SeriesID: [EpochMillis: Bucket]] = [:]
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                for (id, start, b) in try store.buckets(chunk, tier: plan.tier, from: lower, to: to) {
                    out[id, default: [:]][plan.bucket(start, timeZone: zone), default: .empty].merge(b)
                }
            }
            return out
        }
    }

    public func rollups(named name: SeriesName, plan: StepPlan, from: EpochMillis, to: EpochMillis) async throws
        -> [(start: EpochMillis, bucket: Bucket)]? {
        guard let id = try await seriesID(name) else { return nil }
        let buckets = try await rollups([id], plan: plan, from: from, to: to)[id] ?? [:]
        return buckets.keys.sorted().map { ($0, buckets[$0]!) }
    }

    public func groupedRollups(_ groupOf: [SeriesID: Int], groupCount: Int, plan: StepPlan,
                               from: EpochMillis, to: EpochMillis) async throws -> [[(start: EpochMillis, bucket: GroupBucket)]] {
        let ids = groupOf.keys.sorted { $0.rawValue < $1.rawValue }
        let lower = plan.tier.bucket(containing: from, days: days).start
        let zone = self.zone
        return try await run { store in
            var groups = [[EpochMillis: GroupBucket]](repeating: [:], count: max(groupCount, 0))
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                for (id, start, b) in try store.buckets(chunk, tier: plan.tier, from: lower, to: to) {
                    guard let g = groupOf[id], g >= 0, g < groups.count else { continue }
                    groups[g][plan.bucket(start, timeZone: zone), default: .empty]
                        .merge(GroupBucket(count: b.count, sum: b.sum, min: b.min, max: b.max))
                }
            }
            return groups.map { $0.sorted { $0.key < $1.key }.map { (start: $0.key, bucket: $0.value) } }
        }
    }

    public func seriesList() async throws -> [TelemetryReader.SeriesInfo] { try await run { try $0.seriesInfo(after: nil, limit: -1) } }

    public func seriesPage(after: String?, limit: Int, pendingNewest: [SeriesID: Sample]?) async throws -> [TelemetryReader.SeriesInfo] {
        try await run { try $0.seriesInfo(after: after, limit: limit) }
    }

    public func pendingNewest() -> [SeriesID: Sample] { [:] }

    public func latest(_ name: SeriesName) async throws -> Sample? { try await run { try $0.latest(name) } }

    public func sensorsLastSeen() async throws -> [String: EpochMillis] { try await run { try $0.sensorsLastSeen() } }

    public func quarantine(limit: Int, reason: String?) async throws -> [QuarantineRecord] {
        try await run { try $0.quarantined(limit: limit, reason: reason, newestFirst: true) }
    }

    public func quarantineCounts() async throws -> [(reason: String, count: Int)] {
        try await run { try $0.quarantineCounts() }
    }
}

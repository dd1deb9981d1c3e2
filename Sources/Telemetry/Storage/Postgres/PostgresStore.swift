import Foundation
import Synchronization

/// Telemetry in PostgreSQL, the store several collectors share (tables: `SCHEMA.md` beside
/// this file). A commit is one transaction:
/// - the readings merged into their series' sample blocks (the same blocks and merge as the
///   SQLite container: `SampleBlock`, `BlockMerge`), deduplicated exactly by (series, time),
///   the first reading kept;
/// - the rollup deltas of the readings that were new merged into every tier's rollup blocks
///   (`RollupBlock`, `RollupBlockMerge`);
/// - the quarantined messages;
/// - for a partition's holder, its fencing token checked (`PartitionFence`).
/// A reading counts as stored once `commit` returns, so it may be acknowledged then.
///
/// Every commit can be repeated: a commit whose answer was lost (the primary died during
/// COMMIT) is simply sent again, and the readings it did store come back as duplicates,
/// counted in no bucket twice (its quarantined records, though, are stored again: a
/// collector whose file commit fails after this one keeps them in `UnfiledQuarantine`). After a
/// lost connection the next call connects again through the URL, so a multi-host URL with
/// `target_session_attrs=read-write` finds the promoted replica.
///
/// One connection, used by one call at a time (a lock); a collector may open several stores.
public final class PostgresStore: Sendable {
    /// A partition holder's fencing token (the revision that created its lease).
    public struct Fence: Sendable, Equatable {
        public var partition: String
        public var token: UInt64
        /// Who holds the lease with `token` (the same token from another holder is refused).
        public var holder: String
        public init(partition: String, token: UInt64, holder: String = "") {
            self.partition = partition
            self.token = token
            self.holder = holder
        }
    }

    /// The store cannot be used (another schema version or time zone), or holds what it cannot
    /// read (a damaged block).
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// A block aims to stay under this many encoded bytes: PostgreSQL keeps a row of up to
    /// about 2 KB in its page, compressed or moved out of line beyond (TOAST).
    static let maxBlockBytes = 1_900
    /// At most this many samples, and buckets, a block. Every commit decodes and writes again
    /// the newest block of each series (and tier) it touches, so these bound that cost; a
    /// block's key and header cost about 0.2 B a sample at this size.
    static let maxSamplesPerBlock = 256
    static let maxBucketsPerBlock = 128

    public let url: String
    /// Opened to read only: each connection also bounds a statement to `readTimeout`.
    public let readOnly: Bool
    /// How long a reader's statement may run before the server cancels it (a query that would
    /// hold a connection for minutes). Writers have none: a commit waiting for its standby
    /// must not be cut short into one that is only local.
    static let readTimeout = "60s"
    private let quarantineLimit: Int
    private let timeZone: TimeZoneID
    /// The series whose commits and corrections note their earliest changed time in
    /// `series_changes` (`changes`): the members of zone, unit and junction maxima and the
    /// readings of DMAs' and transformers' meters, which the province lease's holder computes
    /// from every partition's (nil: none).
    public let tracks: (@Sendable (SeriesName) -> Bool)?
    let days: LocalDays
    /// The connection (nil after it was lost) and the series ids known so far.
    struct State {
        var connection: PostgresConnection?
        var ids: [SeriesName: Int32] = [:]
    }
    let state = Mutex(State())

    /// Connects and creates the tables if they are missing; `readOnly`: only reads (a
    /// read-only replica), the tables must exist. Every later connection (after one was lost)
    /// checks them again, creating what is missing.
    /// `quarantineLimit`: the quarantined messages kept, the oldest dropped first (as the
    /// SQLite store's `storage.quarantine_limit`). `connectNow: false`: the first call
    /// connects (a collector that starts while the server is down).
    public init(url: String, timeZone: TimeZoneID, readOnly: Bool = false, quarantineLimit: Int = 10_000,
                connectNow: Bool = true, tracks: (@Sendable (SeriesName) -> Bool)? = nil) throws {
        self.url = url
        self.tracks = tracks
        self.timeZone = timeZone
        self.readOnly = readOnly
        self.quarantineLimit = max(quarantineLimit, 1)
        days = LocalDays(timeZone: timeZone.zone)
        if connectNow { try state.withLock { s in try connected(&s) { _ in } } }
    }

    // MARK: Writing

    /// Stores `readings` (any order; of equal (series, time) the first, or the one stored
    /// already, is kept) and `quarantine` in one transaction, with `fence` checked in it.
    /// Throws `PartitionFence.Stale` when a newer holder of the partition has committed: then
    /// nothing of this commit is stored.
    @discardableResult
    public func commit(_ readings: [Reading], quarantine: [QuarantineRecord] = [], fence: Fence? = nil) throws
        -> TelemetryStore.CommitStats
    {
        var bySeries: [SeriesName: [Sample]] = [:]
        for r in readings { bySeries[r.series, default: []].append(Sample(time: r.time, value: r.value)) }
        let runs = bySeries.mapValues { BlockMerge.distinctInTimeOrder($0) }
        return try state.withLock { s in
            var stats = TelemetryStore.CommitStats()
            stats.quarantined = quarantine.count
            // Twice at most: a series row the cache knows may be gone (a failover that lost it,
            // a restored backup); then the ids are looked up afresh.
            for attempt in 1...2 {
                try resolve(Array(runs.keys), &s)
                let batch = runs.map { (id: s.ids[$0.key]!, samples: $0.value) }.sorted { $0.id < $1.id }
                let tracked = tracks.map { tracks in Set(runs.keys.filter(tracks).map { s.ids[$0]! }) } ?? []
                do {
                    try connected(&s) { c in
                        try c.transaction {
                            if let fence { try PartitionFence.check(c, fence) }
                            stats.inserted = try write(batch, tracked: tracked, c)
                            // The partition writes these series now (a takeover reads them back).
                            if let fence, !batch.isEmpty {
                                try c.execute("UPDATE series SET partition = $2 WHERE id = ANY($1::int[]) AND partition IS DISTINCT FROM $2",
                                              [PostgresArray.ints(batch.map(\.id)), .text(fence.partition)])
                            }
                            try insert(quarantine, c)
                        }
                    }
                    break
                } catch is SeriesVanished where attempt == 1 {
                    s.ids.removeAll()
                }
            }
            stats.duplicates = readings.count - stats.inserted
            return stats
        }
    }

    /// A collector's batch (its readings bound to the collector's own series ids, named
    /// through `registry`) and its quarantine (or `quarantine`: those of its records the store
    /// does not hold yet, `UnfiledQuarantine`), as `commit(_:quarantine:fence:)`.
    @discardableResult
    public func commit(_ batch: IngestBatch, registry: SeriesRegistry, quarantine: [QuarantineRecord]? = nil,
                       fence: Fence? = nil) throws -> TelemetryStore.CommitStats {
        try commit(batch.readings.map { Reading(series: registry.name(of: $0.series), time: $0.time, value: $0.value) },
                   quarantine: quarantine ?? batch.quarantine, fence: fence)
    }

    /// A series id the cache held has no row.
    struct SeriesVanished: Error, CustomStringConvertible {
        var description: String { "a series row this collector knew is gone from the store (a failover or a restore?)" }
    }

    /// The series' ids, created where missing (in a transaction of their own: a series with no
    /// readings yet is harmless if the commit that wanted it fails). Created in name order, so
    /// two collectors creating the same new series cannot wait on each other in turn.
    func resolve(_ names: [SeriesName], _ s: inout State) throws {
        // Again if a new connection forgot the known ids meanwhile.
        for _ in 0..<3 {
            let missing = names.filter { s.ids[$0] == nil }.sorted { ($0.sensor, $0.metric) < ($1.sensor, $1.metric) }
            guard !missing.isEmpty else { return }
            s.ids.merge(try create(missing, &s)) { $1 }
        }
        if let lost = names.first(where: { s.ids[$0] == nil }) { throw Refused("series \(lost) could not be created") }
    }

    /// The ids of `missing` (in name order), creating the rows that do not exist.
    private func create(_ missing: [SeriesName], _ s: inout State) throws -> [SeriesName: Int32] {
        var found: [SeriesName: Int32] = [:]
        try connected(&s) { c in
            func lookUp(_ names: [SeriesName]) throws {
                let rows = try c.execute("""
                    SELECT s.id, s.sensor, s.metric FROM series s JOIN unnest($1::text[], $2::text[]) AS m (sensor, metric)
                    ON s.sensor = m.sensor AND s.metric = m.metric
                    """, [PostgresArray.texts(names.map(\.sensor)), PostgresArray.texts(names.map(\.metric))])
                for case let (id, name)? in rows.map(Self.seriesRow) { found[name] = id }
            }
            // Those that exist first (no insert, no sequence number spent), then the rest.
            try lookUp(missing)
            let new = missing.filter { found[$0] == nil }
            guard !new.isEmpty else { return }
            try c.execute("""
                INSERT INTO series (sensor, metric) SELECT * FROM unnest($1::text[], $2::text[])
                ON CONFLICT (sensor, metric) DO NOTHING
                """, [PostgresArray.texts(new.map(\.sensor)), PostgresArray.texts(new.map(\.metric))])
            try lookUp(new)
        }
        return found
    }

    /// Merges each series' samples into its blocks and adds the new ones to the rollups;
    /// how many were new. In the caller's transaction.
    private func write(_ batch: [(id: Int32, samples: [Sample])], tracked: Set<Int32>, _ c: PostgresConnection) throws -> Int {
        guard !batch.isEmpty else { return 0 }
        // One writer per series at a time (a standby's HTTP write beside the holder's ingest),
        // locked in id order so two commits cannot deadlock.
        let locked = try c.execute("SELECT id FROM series WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE",
                                   [PostgresArray.ints(batch.map(\.id))])
        guard locked.count == batch.count else { throw SeriesVanished() }
        // The blocks the new times fall in or next to: those starting within [low, high], and
        // the last one starting at or before low (blocks do not overlap, so it is the only
        // other one that can hold a time of the range, and a later time extends it).
        let near = try c.execute("""
            SELECT b.series_id, b.first_t, b.last_t, b.count, b.data FROM sample_blocks b
            JOIN (SELECT q.s, x.first_t FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS q (s, lo, hi)
                  CROSS JOIN LATERAL (
                      SELECT first_t FROM sample_blocks WHERE series_id = q.s AND first_t > q.lo AND first_t <= q.hi
                      UNION ALL
                      (SELECT first_t FROM sample_blocks WHERE series_id = q.s AND first_t <= q.lo ORDER BY first_t DESC LIMIT 1)
                  ) x) k ON b.series_id = k.s AND b.first_t = k.first_t
            ORDER BY b.series_id, b.first_t
            """, [PostgresArray.ints(batch.map(\.id)), PostgresArray.ints(batch.map { $0.samples[0].time }),
                  PostgresArray.ints(batch.map { $0.samples[$0.samples.count - 1].time })])
        var stored: [Int32: (firsts: [EpochMillis], samples: [Sample])] = [:]
        let lows = Dictionary(uniqueKeysWithValues: batch.map { ($0.id, $0.samples[0].time) })
        for row in near {
            guard let id = row[0].flatMap({ Int32($0) }), let first = row[1].flatMap({ EpochMillis($0) }),
                  let last = row[2].flatMap({ EpochMillis($0) }), let count = row[3].flatMap({ Int($0) }), let hex = row[4]
            else { throw Refused("a sample block row with a missing column") }
            if let low = lows[id], last < low && count >= Self.maxSamplesPerBlock { continue }   // full, and before: stays
            stored[id, default: ([], [])].firsts.append(first)
            do { stored[id]!.samples += try SampleBlock.decode(Self.bytea(hex)) } catch {
                throw Refused("sample block of series \(id) at \(first): \(error)")
            }
        }
        var doomed: (ids: [Int32], firsts: [EpochMillis]) = ([], [])
        var blocks = PostgresBlockRows()
        var deltas: [BucketKey: Bucket] = [:]
        var localDays = days   // (its cache of the last day looked up)
        var newest: [(id: Int32, sample: Sample)] = []
        var changed: [(id: Int32, from: EpochMillis)] = []
        var added = 0
        for (id, samples) in batch {
            let old = stored[id] ?? ([], [])
            let (merged, new) = BlockMerge.merge(stored: old.samples, incoming: samples)
            guard let last = new.last else { continue }
            added += new.count
            newest.append((id, last))
            if tracked.contains(id) { changed.append((id, new[0].time)) }
            for first in old.firsts { doomed.ids.append(id); doomed.firsts.append(first) }
            blocks.add(id, samples: merged)
            for s in new {
                for tier in Tier.allCases {
                    let start = tier == .day ? localDays.day(containing: s.time).start : tier.bucket(containing: s.time, days: localDays).start
                    let key = BucketKey(tier: tier, series: SeriesID(id), start: start)
                    deltas[key, default: .empty].add(time: s.time, value: s.value)
                }
            }
        }
        guard added > 0 else { return 0 }
        // Each series' newest reading, where a new one is newer.
        try c.execute("""
            UPDATE series s SET last_t = u.t, last_value = u.v FROM unnest($1::int[], $2::bigint[], $3::float8[]) AS u (id, t, v)
            WHERE s.id = u.id AND (s.last_t IS NULL OR s.last_t < u.t)
            """, [PostgresArray.ints(newest.map(\.id)), PostgresArray.ints(newest.map(\.sample.time)),
                  PostgresArray.doubles(newest.map(\.sample.value))])
        if !doomed.ids.isEmpty {
            try c.execute("""
                DELETE FROM sample_blocks b USING unnest($1::int[], $2::bigint[]) AS d (s, f)
                WHERE b.series_id = d.s AND b.first_t = d.f
                """, [PostgresArray.ints(doomed.ids), PostgresArray.ints(doomed.firsts)])
        }
        try blocks.insertSamples(c)
        try addToRollups(deltas, c)
        try recordChanges(changed, c)
        return added
    }

    /// Notes in `series_changes` that these series changed from these times on (in the
    /// caller's transaction): the earliest time kept, and the row's `seq` raised, so a reader
    /// clears only the changes it has seen.
    func recordChanges(_ changed: [(id: Int32, from: EpochMillis)], _ c: PostgresConnection) throws {
        guard !changed.isEmpty else { return }
        let changed = changed.sorted { $0.id < $1.id }   // (rows taken in id order)
        try c.execute("""
            INSERT INTO series_changes AS c (series_id, from_t, seq) SELECT id, t, 1 FROM unnest($1::int[], $2::bigint[]) AS u (id, t)
            ON CONFLICT (series_id) DO UPDATE SET from_t = LEAST(c.from_t, excluded.from_t), seq = c.seq + 1
            """, [PostgresArray.ints(changed.map(\.id)), PostgresArray.ints(changed.map(\.from))])
    }

    /// Merges each delta into its stored bucket, in the rollup blocks of its series and tier
    /// (`RollupBlock`; the same blocks and merge as the SQLite store's sealed buckets): count
    /// and sum added, min and max widened, the earlier first and the later last kept. Exact
    /// for any order of readings, since only readings new to the sample blocks have deltas.
    private func addToRollups(_ deltas: [BucketKey: Bucket], _ c: PostgresConnection) throws {
        struct Run { var id: Int32; var tier: Tier; var buckets: [(start: EpochMillis, bucket: Bucket)] }
        var byRun: [Int64: Run] = [:]
        for (key, b) in deltas {
            let k = Int64(key.series.rawValue) << 2 | Int64(key.tier.rawValue)
            byRun[k, default: Run(id: key.series.rawValue, tier: key.tier, buckets: [])].buckets.append((key.start, b))
        }
        let runs = byRun.values.map { r in Run(id: r.id, tier: r.tier, buckets: r.buckets.sorted { $0.start < $1.start }) }
            .sorted { ($0.id, $0.tier.rawValue) < ($1.id, $1.tier.rawValue) }
        guard !runs.isEmpty else { return }
        // The blocks each run falls in or next to (as for sample blocks).
        let near = try c.execute("""
            SELECT b.series_id, b.tier, b.first_start, b.last_start, b.count, b.data FROM rollup_blocks b
            JOIN (SELECT q.s, q.t, x.first_start FROM unnest($1::int[], $2::smallint[], $3::bigint[], $4::bigint[]) AS q (s, t, lo, hi)
                  CROSS JOIN LATERAL (
                      SELECT first_start FROM rollup_blocks
                      WHERE series_id = q.s AND tier = q.t AND first_start > q.lo AND first_start <= q.hi
                      UNION ALL
                      (SELECT first_start FROM rollup_blocks WHERE series_id = q.s AND tier = q.t AND first_start <= q.lo
                       ORDER BY first_start DESC LIMIT 1)
                  ) x) k ON b.series_id = k.s AND b.tier = k.t AND b.first_start = k.first_start
            ORDER BY b.series_id, b.tier, b.first_start
            """, [PostgresArray.ints(runs.map(\.id)), PostgresArray.ints(runs.map(\.tier.rawValue)),
                  PostgresArray.ints(runs.map { $0.buckets[0].start }), PostgresArray.ints(runs.map { $0.buckets[$0.buckets.count - 1].start })])
        var stored: [Int64: (firsts: [EpochMillis], buckets: [(start: EpochMillis, bucket: Bucket)])] = [:]
        let lows = Dictionary(uniqueKeysWithValues: runs.map { (Int64($0.id) << 2 | Int64($0.tier.rawValue), $0.buckets[0].start) })
        for row in near {
            guard let id = row[0].flatMap({ Int64($0) }), let tier = row[1].flatMap({ Int64($0) }),
                  let first = row[2].flatMap({ EpochMillis($0) }), let last = row[3].flatMap({ EpochMillis($0) }),
                  let count = row[4].flatMap({ Int($0) }), let hex = row[5]
            else { throw Refused("a rollup block row with a missing column") }
            let k = id << 2 | tier
            if let low = lows[k], last < low && count >= Self.maxBucketsPerBlock { continue }
            stored[k, default: ([], [])].firsts.append(first)
            do { stored[k]!.buckets += try RollupBlock.decode(Self.bytea(hex)) } catch {
                throw Refused("rollup block \(tier) of series \(id) at \(first): \(error)")
            }
        }
        var doomed: (ids: [Int32], tiers: [Int], firsts: [EpochMillis]) = ([], [], [])
        var blocks = PostgresBlockRows()
        for run in runs {
            let k = Int64(run.id) << 2 | Int64(run.tier.rawValue)
            let old = stored[k] ?? ([], [])
            for first in old.firsts { doomed.ids.append(run.id); doomed.tiers.append(run.tier.rawValue); doomed.firsts.append(first) }
            let merged = RollupBlockMerge.merge(stored: old.buckets, incoming: run.buckets)
            blocks.add(run.id, tier: run.tier, buckets: merged)
        }
        if !doomed.ids.isEmpty {
            try c.execute("""
                DELETE FROM rollup_blocks b USING unnest($1::int[], $2::smallint[], $3::bigint[]) AS d (s, t, f)
                WHERE b.series_id = d.s AND b.tier = d.t AND b.first_start = d.f
                """, [PostgresArray.ints(doomed.ids), PostgresArray.ints(doomed.tiers), PostgresArray.ints(doomed.firsts)])
        }
        try blocks.insertRollups(c)
    }

    /// Inserts the records, then drops the oldest beyond `quarantineLimit`.
    private func insert(_ records: [QuarantineRecord], _ c: PostgresConnection) throws {
        guard !records.isEmpty else { return }
        try c.execute("""
            INSERT INTO quarantine (received, topic, reason, detail, payload)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[])
            """, [PostgresArray.ints(records.map(\.received)), PostgresArray.texts(records.map(\.topic)),
                  PostgresArray.texts(records.map(\.reason)), PostgresArray.texts(records.map(\.detail)),
                  PostgresArray.byteas(records.map(\.payload))])
        // One writer trims at a time; the others skip it (the table may hold a few more for a
        // moment) rather than wait for its rows until its commit returns.
        guard try c.execute("SELECT pg_try_advisory_xact_lock($1)", [.int(PostgresSchema.lockKey + 1)]).first?.first == "t" else { return }
        try c.execute("DELETE FROM quarantine WHERE id <= (SELECT id FROM quarantine ORDER BY id DESC OFFSET $1 LIMIT 1)",
                      [.int(Int64(quarantineLimit))])
    }

    // MARK: Connection

    /// `body` on the connection, under the lock (connecting first if it was lost; a lost
    /// connection is dropped, for the next call to connect again).
    public func query<T: Sendable>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try state.withLock { s in try connected(&s, body) }
    }

    /// Runs `body` on the connection, connecting first if there is none; a lost connection is
    /// dropped, so the next call connects again (to whichever host takes writes now).
    func connected<T>(_ s: inout State, _ body: (PostgresConnection) throws -> T) throws -> T {
        let c: PostgresConnection
        if let existing = s.connection, existing.isConnected {
            c = existing
        } else {
            s.connection = nil
            c = try PostgresConnection(url)
            if readOnly { try c.execute("SET statement_timeout = '\(Self.readTimeout)'") }
            if readOnly { try PostgresSchema.check(c, timeZone: timeZone) } else { try PostgresSchema.create(c, timeZone: timeZone) }
            s.connection = c
            // Perhaps another server now (a promoted replica): ids are looked up again.
            s.ids.removeAll()
        }
        do {
            return try body(c)
        } catch let e as PostgresConnection.Failure where e.lostConnection || !c.isConnected {
            s.connection = nil
            throw e
        }
    }

    /// `url` with any password replaced by `***` (for messages and logs): in a URL's user
    /// part (`postgresql://user:secret@host`), as a URL parameter (`?password=secret`), or as a
    /// keyword (`host=db password=secret`).
    public static func redacted(_ url: String) -> String {
        var out = url
        if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@"),
           let colon = out[scheme.upperBound..<at].firstIndex(of: ":") {
            out = String(out[..<out.index(after: colon)]) + "***" + String(out[at...])
        }
        var searchFrom = out.startIndex
        while let key = out.range(of: "password=", options: .caseInsensitive, range: searchFrom..<out.endIndex) {
            let end = out[key.upperBound...].firstIndex { $0 == "&" || $0 == " " } ?? out.endIndex
            out.replaceSubrange(key.upperBound..<end, with: "***")
            searchFrom = out.index(key.upperBound, offsetBy: 3)
        }
        return out
    }

    /// A bytea column's text (`\x` and hex digits) as bytes.
    static func bytea(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let u = Array(text.utf8)
        guard u.count >= 2, u[0] == UInt8(ascii: "\\"), u[1] == UInt8(ascii: "x") else { return out }
        out.reserveCapacity((u.count - 2) / 2)
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: c &- UInt8(ascii: "A") &+ 10
            }
        }
        var k = 2
        while k + 1 < u.count {
            out.append(nibble(u[k]) << 4 | nibble(u[k + 1]))
            k += 2
        }
        return out
    }
}

extension PostgresStore: RollupSource {
    public func verifiedSeries() async throws -> [(id: SeriesID, name: SeriesName)] { try allSeries() }

    public func rawPage(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) async throws -> (samples: [Sample], more: Bool) {
        try samples(id, from: from, to: to, limit: limit)
    }

    public func storedBuckets(_ id: SeriesID, tier: Tier, from: EpochMillis, to: EpochMillis) async throws -> [EpochMillis: Bucket] {
        Dictionary(try buckets(id, tier: tier, from: from, to: to).map { ($0.start, $0.bucket) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every tier is stored.
    public func tiersFromRaw() async throws -> [Tier: Int] { [:] }
}

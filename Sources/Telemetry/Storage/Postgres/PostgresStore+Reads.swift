import Foundation

/// The store's reads: series, raw samples, rollup buckets, quarantine (`PostgresReader` serves
/// the API from them; `RollupVerifier` checks through the `RollupSource` ones).
extension PostgresStore {
    /// Every series, by name.
    public func seriesNames() throws -> [SeriesName] {
        try allSeries().map(\.name)
    }

    /// A row whose first columns are a series' `id, sensor, metric` (nil: a name that no longer
    /// parses).
    static func seriesRow(_ row: [String?]) -> (id: Int32, name: SeriesName)? {
        guard let id = row[0].flatMap({ Int32($0) }), let sensor = row[1], let metric = row[2],
              let name = try? SeriesName(sensor: sensor, metric: metric) else { return nil }
        return (id, name)
    }

    /// Every series with its id, by name.
    public func allSeries() throws -> [(id: SeriesID, name: SeriesName)] {
        try query { c in
            try c.execute("SELECT id, sensor, metric FROM series ORDER BY sensor, metric").compactMap(Self.seriesRow)
                .map { (SeriesID($0.id), $0.name) }
        }
    }

    /// The stored samples of `name` with `from <= t < to`, oldest first.
    public func samples(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        guard let id = try seriesID(name) else { return [] }
        return try samples(id, from: from, to: to, limit: .max).samples
    }

    /// The series a partition's holder last wrote (fenced commits) that have a reading from
    /// `since` on: what a collector taking the partition over reads back.
    public func partitionSeries(_ partition: String, since: EpochMillis) throws -> [(id: SeriesID, name: SeriesName)] {
        try query { c in
            try c.execute("SELECT id, sensor, metric FROM series WHERE partition = $1 AND last_t >= $2 ORDER BY id",
                          [.text(partition), .int(since)]).compactMap(Self.seriesRow).map { (SeriesID($0.id), $0.name) }
        }
    }

    /// A tracked series that changed (`tracks`): from which time on, and the change's
    /// number (`clearChanges` clears it only if no commit changed the series since).
    public struct SeriesChange: Sendable, Equatable {
        public var id: Int32
        public var name: SeriesName
        public var from: EpochMillis
        public var seq: Int64
    }

    /// The tracked series' changes not cleared yet.
    public func changes() throws -> [SeriesChange] {
        try query { c in
            try c.execute("SELECT c.series_id, s.sensor, s.metric, c.from_t, c.seq FROM series_changes c JOIN series s ON s.id = c.series_id ORDER BY c.series_id")
                .compactMap { row in
                    guard let (id, name) = Self.seriesRow(row), let from = row[3].flatMap({ EpochMillis($0) }),
                          let seq = row[4].flatMap({ Int64($0) }) else { return nil }
                    return SeriesChange(id: id, name: name, from: from, seq: seq)
                }
        }
    }

    /// Clears the changes that were handled, unless a commit changed their series again since
    /// (in the caller's transaction).
    func clearChanges(_ handled: [SeriesChange], _ c: PostgresConnection) throws {
        guard !handled.isEmpty else { return }
        // Locked in id order first, as commits note them: the two cannot deadlock.
        try c.execute("SELECT series_id FROM series_changes WHERE series_id = ANY($1::int[]) ORDER BY series_id FOR UPDATE",
                      [PostgresArray.ints(handled.map(\.id))])
        try c.execute("""
            DELETE FROM series_changes c USING unnest($1::int[], $2::bigint[]) AS d (s, q) WHERE c.series_id = d.s AND c.seq = d.q
            """, [PostgresArray.ints(handled.map(\.id)), PostgresArray.ints(handled.map(\.seq))])
    }

    /// The newest stored sample of `name` before `before` (nil: none).
    public func sample(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        guard let id = try seriesID(name) else { return nil }
        return try query { c in
            // Blocks do not overlap: the last one starting before `before` holds it.
            guard let hex = try c.execute("""
                SELECT data FROM sample_blocks WHERE series_id = $1 AND first_t < $2 ORDER BY first_t DESC LIMIT 1
                """, [.int(Int64(id.rawValue)), .int(before)]).first?[0] else { return nil }
            return try SampleBlock.decode(Self.bytea(hex)).last { $0.time < before }
        }
    }

    /// The id of `name` (nil: not stored).
    public func seriesID(_ name: SeriesName) throws -> SeriesID? {
        try query { c in
            // (A series row whose first commit failed has no reading: not a series yet.)
            try c.execute("SELECT id FROM series WHERE sensor = $1 AND metric = $2 AND last_t IS NOT NULL",
                          [.text(name.sensor), .text(name.metric)])
                .first.flatMap { $0[0] }.flatMap { Int32($0) }.map { SeriesID($0) }
        }
    }

    /// The stored samples of `id` with `from <= t < to`, oldest first, at most `limit`;
    /// `more`: a later one exists.
    public func samples(_ id: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int) throws -> (samples: [Sample], more: Bool) {
        guard from < to, limit > 0 else { return ([], false) }
        return try query { c in try c.transaction(snapshot: true) {
            // From the last block starting at or before `from` (it may hold `from`) on, a few
            // blocks a statement (a page of a long series reads about the page, not the rest),
            // all in one snapshot (a commit re-cutting blocks meanwhile is not half seen).
            var next = try c.execute("SELECT max(first_t) FROM sample_blocks WHERE series_id = $1 AND first_t <= $2",
                                     [.int(Int64(id.rawValue)), .int(from)]).first.flatMap { $0[0] }.flatMap { EpochMillis($0) } ?? from
            var out: [Sample] = []
            while true {
                let rows = try c.execute("""
                    SELECT first_t, data FROM sample_blocks WHERE series_id = $1 AND first_t >= $2 AND first_t < $3
                    ORDER BY first_t LIMIT 64
                    """, [.int(Int64(id.rawValue)), .int(next), .int(to)])
                for row in rows {
                    guard let first = row[0].flatMap({ EpochMillis($0) }), let hex = row[1] else { continue }
                    next = first + 1
                    let block: [Sample]
                    do { block = try SampleBlock.decode(Self.bytea(hex)) } catch {
                        throw Refused("sample block of series \(id) at \(first): \(error)")
                    }
                    for x in block where x.time >= from && x.time < to {
                        if out.count == limit { return (out, true) }
                        out.append(x)
                    }
                }
                if rows.count < 64 { return (out, false) }
            }
        } }
    }

    /// A page of several series' samples (`samples(of:series:blocks:)`): each series' samples in
    /// time order, the series in the order asked; `rest` is what to ask for next (empty: done).
    public struct SamplePage: Sendable {
        public var runs: [(id: SeriesID, samples: [Sample])] = []
        public var rest: [(id: SeriesID, from: EpochMillis)] = []
        /// How many series to ask for next: as many as filled this page when it was cut
        /// (long series: each statement reads about what it returns), else twice as many.
        public var series = 256
    }

    /// The stored samples of many series, each from its own `from` on: the first `series`
    /// of `wanted` (in id order) in one statement of at most `blocks` blocks (a takeover's
    /// catch-up reads a partition this way: a statement for hundreds of short series, not a
    /// transaction each). Blocks of a series never overlap in time, so a series cut at the
    /// page's end goes on from just after its last sample.
    public func samples(of wanted: [(id: SeriesID, from: EpochMillis)], series: Int = 256, blocks: Int) throws -> SamplePage {
        guard !wanted.isEmpty else { return SamplePage() }
        let chunk = wanted.prefix(max(1, series))
        let rows = try query { c in
            // Each series' blocks from the one holding its `from` on, found through the key
            // (not every block of a long history filtered), at most `blocks` of each.
            try c.execute("""
                SELECT f.id, b.first_t, b.data FROM unnest($1::int[], $2::bigint[]) AS f (id, from_t)
                CROSS JOIN LATERAL (
                    SELECT first_t, data FROM sample_blocks WHERE series_id = f.id AND last_t >= f.from_t AND first_t >= COALESCE(
                        (SELECT max(first_t) FROM sample_blocks WHERE series_id = f.id AND first_t <= f.from_t), f.from_t)
                    ORDER BY first_t LIMIT $3) AS b
                ORDER BY f.id, b.first_t LIMIT $3
                """, [PostgresArray.ints(chunk.map(\.id.rawValue)), PostgresArray.ints(chunk.map(\.from)), .int(Int64(max(1, blocks)))])
        }
        var page = SamplePage()
        var index = 0   // into wanted: the series of the current row
        for row in rows {
            guard let id = row[0].flatMap({ Int32($0) }), let first = row[1].flatMap({ EpochMillis($0) }), let hex = row[2] else { continue }
            while index < wanted.count, wanted[index].id.rawValue != id { index += 1 }
            guard index < wanted.count else { break }
            let block: [Sample]
            do { block = try SampleBlock.decode(Self.bytea(hex)) } catch {
                throw Refused("sample block of series \(id) at \(first): \(error)")
            }
            let from = wanted[index].from
            if page.runs.last?.id.rawValue != id { page.runs.append((SeriesID(id), [])) }
            page.runs[page.runs.count - 1].samples.append(contentsOf: block.lazy.filter { $0.time >= from })
        }
        // A full page may have cut its last series: that one goes on, with those after it.
        if rows.count >= max(1, blocks), let last = page.runs.last {
            let at = wanted.firstIndex { $0.id == last.id } ?? chunk.count
            page.rest = Array(wanted[at...])
            // (A block whose samples all lie before its recorded end would give nothing: that
            // series is left there rather than asked for again and again.)
            if let t = last.samples.last?.time { page.rest[0].from = max(page.rest[0].from, t + 1) } else { page.rest.removeFirst() }
            page.series = max(1, page.runs.count)
        } else {
            page.rest = Array(wanted[chunk.count...])
            page.series = min(256, chunk.count * 2)
        }
        return page
    }

    /// The stored samples of many series by name, each from its own `from` on (a series
    /// not stored has none): their ids in one statement, their samples a few hundred series a
    /// statement (`samples(of:series:blocks:)`).
    public func samples(named wanted: [(name: SeriesName, from: EpochMillis)]) throws -> [SeriesName: [Sample]] {
        guard !wanted.isEmpty else { return [:] }
        let from = Dictionary(wanted.map { ($0.name, $0.from) }, uniquingKeysWith: min)
        let ids = try query { c in
            try c.execute("""
                SELECT s.id, s.sensor, s.metric FROM series s
                JOIN unnest($1::text[], $2::text[]) AS w (sensor, metric) ON s.sensor = w.sensor AND s.metric = w.metric
                WHERE s.last_t IS NOT NULL ORDER BY s.id
                """, [PostgresArray.texts(from.keys.map(\.sensor)), PostgresArray.texts(from.keys.map(\.metric))])
                .compactMap(Self.seriesRow)
        }
        var names: [Int32: SeriesName] = [:]
        var left: [(id: SeriesID, from: EpochMillis)] = []
        for (id, name) in ids {
            guard let f = from[name], names[id] == nil else { continue }
            names[id] = name
            left.append((SeriesID(id), f))
        }
        var out: [SeriesName: [Sample]] = [:]
        var series = 256
        while !left.isEmpty {
            let page = try samples(of: left, series: series, blocks: 2_048)
            for run in page.runs { if let name = names[run.id.rawValue] { out[name, default: []] += run.samples } }
            (left, series) = (page.rest, page.series)
        }
        return out
    }

    /// The stored buckets of `name` in `tier` starting in `[from, to)`, oldest first.
    public func buckets(_ name: SeriesName, tier: Tier, from: EpochMillis, to: EpochMillis) throws
        -> [(start: EpochMillis, bucket: Bucket)]
    {
        guard let id = try seriesID(name) else { return [] }
        return try buckets(id, tier: tier, from: from, to: to)
    }

    /// The stored buckets of `id` in `tier` starting in `[from, to)`, oldest first.
    public func buckets(_ id: SeriesID, tier: Tier, from: EpochMillis, to: EpochMillis) throws
        -> [(start: EpochMillis, bucket: Bucket)]
    {
        try buckets([id], tier: tier, from: from, to: to).map { ($0.start, $0.bucket) }
    }

    /// The quarantined messages (of one reason, or all), oldest first or newest first, at most `limit`.
    public func quarantined(limit: Int = 1_000, reason: String? = nil, newestFirst: Bool = false) throws -> [QuarantineRecord] {
        try query { c in
            try c.execute("""
                SELECT received, topic, reason, detail, payload FROM quarantine WHERE $2::text IS NULL OR reason = $2::text
                ORDER BY id \(newestFirst ? "DESC" : "ASC") LIMIT $1
                """, [.int(Int64(limit)), reason.map { .text($0) } ?? .null]).map { row in
                QuarantineRecord(received: row[0].flatMap { EpochMillis($0) } ?? 0, topic: row[1] ?? "", reason: row[2] ?? "",
                                 detail: row[3] ?? "", payload: Self.bytea(row[4] ?? ""))
            }
        }
    }

    /// How many readings every series holds together.
    public func readingCount() throws -> Int {
        try query { c in try c.execute("SELECT coalesce(sum(count), 0) FROM sample_blocks").first.flatMap { $0[0] }.flatMap { Int($0) } ?? 0 }
    }

    /// Whether the server answers.
    public func ping() throws {
        _ = try query { c in try c.execute("SELECT 1") }
    }

    /// Where a server stands as a copy of the primary.
    public struct ReplicaState: Sendable, Equatable {
        /// A standby (in recovery), not the primary.
        public var isStandby: Bool
        /// A standby's WAL receiver streams from the primary (false also when it has none, as
        /// while it retries a lost primary; nil: its status is hidden from this role, which
        /// needs `pg_read_all_stats` to see it, or not a standby).
        public var streaming: Bool?
        /// A standby's WAL positions (bytes): how far it has received and how far applied.
        public var received: UInt64
        public var applied: UInt64
    }

    /// This server's `ReplicaState`.
    public func replicaState() throws -> ReplicaState {
        try query { c in
            // (The receiver's view read once: no row, not streaming; its status hidden: unknown.)
            let row = try c.execute("""
                SELECT pg_is_in_recovery(),
                       (SELECT CASE WHEN count(*) = 0 THEN false ELSE bool_and(status = 'streaming') END FROM pg_stat_wal_receiver),
                       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0'), 0)::bigint,
                       coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0'), 0)::bigint
                """).first ?? []
            let standby = row.first.flatMap { $0 } == "t"
            let streaming = row.count > 1 ? row[1].map { $0 == "t" } : nil
            func lsn(_ k: Int) -> UInt64 { row.count > k ? row[k].flatMap { UInt64($0) } ?? 0 : 0 }
            return ReplicaState(isStandby: standby, streaming: standby ? streaming : nil, received: lsn(2), applied: lsn(3))
        }
    }

    /// The buckets of `tier` of the series `ids` starting in `[from, to)`, by series, oldest
    /// first: from each series' last block starting at or before `from` on, in one snapshot.
    public func buckets(_ ids: [SeriesID], tier: Tier, from: EpochMillis, to: EpochMillis) throws
        -> [(series: SeriesID, start: EpochMillis, bucket: Bucket)]
    {
        guard !ids.isEmpty, from < to else { return [] }
        return try query { c in
            let rows = try c.execute("""
                SELECT q.s, b.first_start, b.data FROM unnest($1::int[]) AS q (s)
                CROSS JOIN LATERAL (
                    SELECT first_start, data FROM rollup_blocks
                    WHERE series_id = q.s AND tier = $2 AND first_start < $4
                      AND first_start >= coalesce((SELECT max(first_start) FROM rollup_blocks
                                                   WHERE series_id = q.s AND tier = $2 AND first_start <= $3), $3)
                ) b
                ORDER BY q.s, b.first_start
                """, [PostgresArray.ints(ids.map(\.rawValue)), .int(Int64(tier.rawValue)), .int(from), .int(to)])
            var out: [(series: SeriesID, start: EpochMillis, bucket: Bucket)] = []
            for row in rows {
                guard let id = row[0].flatMap({ Int32($0) }), let hex = row[2] else { continue }
                let block: [(start: EpochMillis, bucket: Bucket)]
                do { block = try RollupBlock.decode(Self.bytea(hex)) } catch {
                    throw Refused("rollup block \(tier) of series \(id) at \(row[1] ?? "?"): \(error)")
                }
                for b in block where b.start >= from && b.start < to { out.append((SeriesID(id), b.start, b.bucket)) }
            }
            return out
        }
    }

    /// Up to `limit` series (all for a negative limit) by name (`sensor/metric`, bytewise, as
    /// the SQLite store orders them) after `after`, with their newest reading.
    public func seriesInfo(after: String?, limit: Int) throws -> [TelemetryReader.SeriesInfo] {
        try query { c in
            try c.execute("""
                SELECT id, sensor, metric, last_t, last_value FROM series
                WHERE last_t IS NOT NULL AND ($1::text IS NULL OR (sensor || '/' || metric) COLLATE "C" > $1::text COLLATE "C")
                ORDER BY (sensor || '/' || metric) COLLATE "C" LIMIT $2
                """, [after.map { .text($0) } ?? .null, limit < 0 ? .null : .int(Int64(limit))]).compactMap { row in
                guard let (id, name) = Self.seriesRow(row) else { return nil }
                return TelemetryReader.SeriesInfo(id: SeriesID(id), name: name, lastTime: row[3].flatMap { EpochMillis($0) },
                                                  lastValue: row[4].flatMap { Double($0) }, unit: nil, kind: nil)
            }
        }
    }

    /// The newest reading of `name` (nil: none stored).
    public func latest(_ name: SeriesName) throws -> Sample? {
        try query { c in
            try c.execute("SELECT last_t, last_value FROM series WHERE sensor = $1 AND metric = $2 AND last_t IS NOT NULL",
                          [.text(name.sensor), .text(name.metric)]).first.flatMap { row in
                row[0].flatMap { EpochMillis($0) }.flatMap { t in row[1].flatMap { Double($0) }.map { Sample(time: t, value: $0) } }
            }
        }
    }

    /// The newest reading time of each sensor that has reported.
    public func sensorsLastSeen() throws -> [String: EpochMillis] {
        try query { c in
            var out: [String: EpochMillis] = [:]
            for row in try c.execute("SELECT sensor, max(last_t) FROM series WHERE last_t IS NOT NULL GROUP BY sensor") {
                if let sensor = row[0], let t = row[1].flatMap({ EpochMillis($0) }) { out[sensor] = t }
            }
            return out
        }
    }

    /// How many quarantined messages there are per reason, by reason.
    public func quarantineCounts() throws -> [(reason: String, count: Int)] {
        try query { c in
            try c.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason COLLATE \"C\"").compactMap { row in
                guard let reason = row[0], let n = row[1].flatMap({ Int($0) }) else { return nil }
                return (reason, n)
            }
        }
    }
}

import Foundation

extension PostgresStore {
    /// Replaces each series' stored samples from its correction's `from` on with the
    /// correction's samples (a derived series recomputed after late inputs), in one
    /// transaction with `fence` checked in it. In every tier, each bucket of the series from
    /// the one that holds `from` on is set to the aggregate of the samples then stored, so the
    /// tiers stay equal to a recompute;
    /// `series.last_*` follows. Corrections of one series are applied in order, as one.
    /// Repeatable: sent again, it stores the same.
    /// `clearing`: changes of tracked series (`changes`) these corrections answer, cleared in
    /// the same transaction.
    public func replace(_ corrections: [SeriesCorrection], fence: Fence? = nil, clearing: [SeriesChange] = []) throws {
        var bySeries: [SeriesName: SeriesCorrection] = [:]
        for c in corrections {
            var c = c
            c.samples = BlockMerge.distinctInTimeOrder(c.samples.filter { $0.time >= c.from })
            bySeries[c.series] = bySeries[c.series].map { $0.followed(by: c) } ?? c
        }
        guard !bySeries.isEmpty || !clearing.isEmpty else { return }
        try state.withLock { s in
            for attempt in 1...2 {
                try resolve(Array(bySeries.keys), &s)
                let ordered = bySeries.values.map { (id: s.ids[$0.series]!, correction: $0) }.sorted { $0.id < $1.id }
                do {
                    try connected(&s) { c in
                        try c.transaction {
                            if let fence { try PartitionFence.check(c, fence) }
                            let locked = try c.execute("SELECT id FROM series WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE",
                                                       [PostgresArray.ints(ordered.map(\.id))])
                            guard locked.count == ordered.count else { throw SeriesVanished() }
                            try replace(ordered, c)
                            try recordChanges(ordered.filter { tracks?($0.correction.series) ?? false }.map { ($0.id, $0.correction.from) }, c)
                            try clearChanges(clearing, c)
                        }
                    }
                    return
                } catch is SeriesVanished where attempt == 1 {
                    s.ids.removeAll()
                }
            }
        }
    }

    /// The series' corrections (in id order), in the caller's transaction: their blocks read,
    /// deleted and written again with a statement for all of them, whatever their number (a
    /// statement or two per series and tier made a round of the province's scopes with
    /// hundreds of corrections wait a second on round trips).
    private func replace(_ ordered: [(id: Int32, correction: SeriesCorrection)], _ c: PostgresConnection) throws {
        guard !ordered.isEmpty else { return }
        let ids = ordered.map(\.id)
        // Each tier's first bucket to recompute is the one holding `from` (tiers need not
        // agree: the day starts at local midnight, the others on UTC's grid); the samples are
        // read from the earliest of them.
        let floors = ordered.map { o in Tier.allCases.map { $0.bucket(containing: o.correction.from, days: days).start } }
        // The sample blocks that may hold a time from a series' floor on: the last one
        // starting at or before it, and every later one.
        var stored = try Self.blocks(c, """
            SELECT f.id, 0, b.first_t, b.data FROM unnest($1::int[], $2::bigint[]) AS f (id, floor_t)
            CROSS JOIN LATERAL (
                SELECT first_t, data FROM sample_blocks WHERE series_id = f.id AND first_t >= COALESCE(
                    (SELECT max(first_t) FROM sample_blocks WHERE series_id = f.id AND first_t <= f.floor_t), f.floor_t)) AS b
            ORDER BY f.id, b.first_t
            """, [PostgresArray.ints(ids), PostgresArray.ints(floors.map { $0.min()! })], decode: SampleBlock.decode)
        try Self.deleteFrom(c, "sample_blocks", "first_t", stored.keys.map { ($0.id, $0.tier) }, stored.values.map(\.first))
        var sampleRows = PostgresBlockRows()
        var merged: [[Sample]] = []
        for (id, correction) in ordered {
            let samples = (stored.removeValue(forKey: (id, 0))?.items ?? []).filter { $0.time < correction.from } + correction.samples
            sampleRows.add(id, samples: samples)
            merged.append(samples)
        }
        try sampleRows.insertSamples(c)
        // The newest sample: the last one rewritten, else the last of the blocks before them.
        var newest: [Int32: Sample] = [:]
        for (k, o) in ordered.enumerated() { newest[o.id] = merged[k].last }
        let unknown = ids.filter { newest[$0] == nil }
        if !unknown.isEmpty {
            for row in try c.execute("""
                SELECT DISTINCT ON (series_id) series_id, data FROM sample_blocks WHERE series_id = ANY($1::int[])
                ORDER BY series_id, first_t DESC
                """, [PostgresArray.ints(unknown)]) {
                guard let id = row[0].flatMap({ Int32($0) }), let hex = row[1] else { continue }
                newest[id] = try SampleBlock.decode(Self.bytea(hex)).last
            }
        }
        let known = ids.filter { newest[$0] != nil }
        try c.execute("""
            UPDATE series s SET last_t = u.t, last_value = u.v FROM unnest($1::int[], $2::bigint[], $3::float8[]) AS u (id, t, v)
            WHERE s.id = u.id
            """, [PostgresArray.ints(known), PostgresArray.ints(known.map { newest[$0]!.time }),
                  PostgresArray.doubles(known.map { newest[$0]!.value })])
        let none = ids.filter { newest[$0] == nil }
        if !none.isEmpty {
            try c.execute("UPDATE series SET last_t = NULL, last_value = NULL WHERE id = ANY($1::int[])", [PostgresArray.ints(none)])
        }
        // Every tier from its floor on: the stored buckets before it kept, the rest recomputed.
        var keys: [(id: Int32, tier: Int, floor: EpochMillis)] = []
        for (k, o) in ordered.enumerated() {
            for (t, tier) in Tier.allCases.enumerated() { keys.append((o.id, tier.rawValue, floors[k][t])) }
        }
        var buckets = try Self.blocks(c, """
            SELECT f.id, f.tier, b.first_start, b.data FROM unnest($1::int[], $2::smallint[], $3::bigint[]) AS f (id, tier, floor_t)
            CROSS JOIN LATERAL (
                SELECT first_start, data FROM rollup_blocks WHERE series_id = f.id AND tier = f.tier AND first_start >= COALESCE(
                    (SELECT max(first_start) FROM rollup_blocks WHERE series_id = f.id AND tier = f.tier AND first_start <= f.floor_t),
                    f.floor_t)) AS b
            ORDER BY f.id, f.tier, b.first_start
            """, [PostgresArray.ints(keys.map(\.id)), PostgresArray.ints(keys.map(\.tier)), PostgresArray.ints(keys.map(\.floor))],
            decode: RollupBlock.decode)
        try Self.deleteFrom(c, "rollup_blocks", "first_start", buckets.keys.map { ($0.id, $0.tier) }, buckets.values.map(\.first))
        var rollupRows = PostgresBlockRows()
        for (k, o) in ordered.enumerated() {
            for (t, tier) in Tier.allCases.enumerated() {
                let floor = floors[k][t]
                var recomputed: [(start: EpochMillis, bucket: Bucket)] = []
                for sample in merged[k] where sample.time >= floor {
                    let start = tier.bucket(containing: sample.time, days: days).start
                    if recomputed.last?.start != start { recomputed.append((start, .empty)) }
                    recomputed[recomputed.count - 1].bucket.add(time: sample.time, value: sample.value)
                }
                let kept = (buckets.removeValue(forKey: (o.id, tier.rawValue))?.items ?? []).filter { $0.start < floor }
                rollupRows.add(o.id, tier: tier, buckets: kept + recomputed)
            }
        }
        try rollupRows.insertRollups(c)
    }

    /// The decoded blocks a query returns (series id, tier or 0, first time, data), each
    /// key's items in the rows' order, and the first time of each key's first block.
    private static func blocks<Item>(_ c: PostgresConnection, _ sql: String, _ values: [PostgresConnection.Value],
                                     decode: ([UInt8]) throws -> [Item]) throws -> BlockKeyed<Item> {
        var out = BlockKeyed<Item>()
        for row in try c.execute(sql, values) {
            guard let id = row[0].flatMap({ Int32($0) }), let tier = row[1].flatMap({ Int($0) }),
                  let first = row[2].flatMap({ EpochMillis($0) }), let hex = row[3] else {
                throw Refused("a block row with a missing column")
            }
            do { out.add(BlockKey(id: id, tier: tier), first: first, try decode(Self.bytea(hex))) } catch let e as Refused { throw e } catch {
                throw Refused("block \(tier) of series \(id) at \(first): \(error)")
            }
        }
        return out
    }

    /// Deletes each key's blocks from its first time on (`tier` 0 for sample blocks).
    private static func deleteFrom(_ c: PostgresConnection, _ table: String, _ column: String,
                                   _ keys: [(id: Int32, tier: Int)], _ firsts: [EpochMillis]) throws {
        guard !keys.isEmpty else { return }
        let tiered = table == "rollup_blocks"
        try c.execute("""
            DELETE FROM \(table) b USING unnest($1::int[], $2::smallint[], $3::bigint[]) AS d (s, t, f)
            WHERE b.series_id = d.s\(tiered ? " AND b.tier = d.t" : "") AND b.\(column) >= d.f
            """, [PostgresArray.ints(keys.map(\.id)), PostgresArray.ints(keys.map(\.tier)), PostgresArray.ints(firsts)])
    }
}

/// A series (and tier: 0 for its samples) whose blocks a correction rewrites.
struct BlockKey: Hashable {
    var id: Int32
    var tier: Int
}

/// Decoded blocks by key: their items in order and the first block's first time.
struct BlockKeyed<Item> {
    private var byKey: [BlockKey: (first: EpochMillis, items: [Item])] = [:]

    var keys: [BlockKey] { Array(byKey.keys) }
    var values: [(first: EpochMillis, items: [Item])] { keys.map { byKey[$0]! } }

    mutating func add(_ key: BlockKey, first: EpochMillis, _ items: [Item]) {
        if byKey[key] == nil { byKey[key] = (first, items) } else { byKey[key]!.items += items }
    }

    mutating func removeValue(forKey key: (Int32, Int)) -> (first: EpochMillis, items: [Item])? {
        byKey.removeValue(forKey: BlockKey(id: key.0, tier: key.1))
    }
}

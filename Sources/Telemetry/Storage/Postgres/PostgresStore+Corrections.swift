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
                            if let fence { try PartitionFence.check(c, partition: fence.partition, token: fence.token) }
                            let locked = try c.execute("SELECT id FROM series WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE",
                                                       [PostgresArray.ints(ordered.map(\.id))])
                            guard locked.count == ordered.count else { throw SeriesVanished() }
                            for (id, correction) in ordered { try replace(id, correction, c) }
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

    /// One series' correction, in the caller's transaction.
    private func replace(_ id: Int32, _ correction: SeriesCorrection, _ c: PostgresConnection) throws {
        // Each tier's first bucket to recompute is the one holding `from` (tiers need not
        // agree: the day starts at local midnight, the others on UTC's grid); the samples are
        // read from the earliest of them.
        let floors = Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, $0.bucket(containing: correction.from, days: days).start) })
        let floor = floors.values.min()!
        // The sample blocks that may hold a time from `floor` on: the last one starting at or
        // before it, and every later one.
        let rows = try c.execute("""
            SELECT first_t, data FROM sample_blocks WHERE series_id = $1 AND first_t >= COALESCE(
                (SELECT max(first_t) FROM sample_blocks WHERE series_id = $1 AND first_t <= $2), $2)
            ORDER BY first_t
            """, [.int(Int64(id)), .int(floor)])
        var stored: [Sample] = []
        for row in rows {
            guard let first = row[0].flatMap({ EpochMillis($0) }), let hex = row[1] else {
                throw Refused("a sample block row with a missing column")
            }
            do { stored += try SampleBlock.decode(Self.bytea(hex)) } catch {
                throw Refused("sample block of series \(id) at \(first): \(error)")
            }
        }
        let samples = stored.filter { $0.time < correction.from } + correction.samples
        if let first = rows.first?[0].flatMap({ EpochMillis($0) }) {
            try c.execute("DELETE FROM sample_blocks WHERE series_id = $1 AND first_t >= $2", [.int(Int64(id)), .int(first)])
        }
        var blocks = PostgresBlockRows()
        blocks.add(id, samples: samples)
        try blocks.insertSamples(c)
        // The newest sample: the last one rewritten, else the last of the blocks before them.
        var newest = samples.last
        if newest == nil, let hex = try c.execute("SELECT data FROM sample_blocks WHERE series_id = $1 ORDER BY first_t DESC LIMIT 1",
                                                   [.int(Int64(id))]).first?[0] {
            newest = try SampleBlock.decode(Self.bytea(hex)).last
        }
        if let newest {
            try c.execute("UPDATE series SET last_t = $2, last_value = $3::float8 WHERE id = $1",
                          [.int(Int64(id)), .int(newest.time), .text(PostgresArray.float8(newest.value))])
        } else {
            try c.execute("UPDATE series SET last_t = NULL, last_value = NULL WHERE id = $1", [.int(Int64(id))])
        }
        for tier in Tier.allCases {
            let floor = floors[tier]!
            var recomputed: [(start: EpochMillis, bucket: Bucket)] = []
            for sample in samples where sample.time >= floor {
                let start = tier.bucket(containing: sample.time, days: days).start
                if recomputed.last?.start != start { recomputed.append((start, .empty)) }
                recomputed[recomputed.count - 1].bucket.add(time: sample.time, value: sample.value)
            }
            try setRollups(id, tier, from: floor, to: recomputed, c)
        }
    }

    /// Sets the series' buckets of `tier` from `floor` on to `buckets` (in time order): the
    /// stored ones before `floor` are kept, the others dropped.
    private func setRollups(_ id: Int32, _ tier: Tier, from floor: EpochMillis, to buckets: [(start: EpochMillis, bucket: Bucket)],
                            _ c: PostgresConnection) throws {
        let rows = try c.execute("""
            SELECT first_start, data FROM rollup_blocks WHERE series_id = $1 AND tier = $2 AND first_start >= COALESCE(
                (SELECT max(first_start) FROM rollup_blocks WHERE series_id = $1 AND tier = $2 AND first_start <= $3), $3)
            ORDER BY first_start
            """, [.int(Int64(id)), .int(Int64(tier.rawValue)), .int(floor)])
        var kept: [(start: EpochMillis, bucket: Bucket)] = []
        for row in rows {
            guard let first = row[0].flatMap({ EpochMillis($0) }), let hex = row[1] else {
                throw Refused("a rollup block row with a missing column")
            }
            do { kept += try RollupBlock.decode(Self.bytea(hex)).filter { $0.start < floor } } catch {
                throw Refused("rollup block \(tier) of series \(id) at \(first): \(error)")
            }
        }
        if let first = rows.first?[0].flatMap({ EpochMillis($0) }) {
            try c.execute("DELETE FROM rollup_blocks WHERE series_id = $1 AND tier = $2 AND first_start >= $3",
                          [.int(Int64(id)), .int(Int64(tier.rawValue)), .int(first)])
        }
        var blocks = PostgresBlockRows()
        blocks.add(id, tier: tier, buckets: kept + buckets)
        try blocks.insertRollups(c)
    }
}

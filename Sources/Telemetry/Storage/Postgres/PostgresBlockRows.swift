/// New rows of `sample_blocks` or `rollup_blocks`, a column array each, cut from a series'
/// merged samples or buckets (`BlockCutter`, at most `PostgresStore.maxSamplesPerBlock` or
/// `maxBucketsPerBlock` a block and about `maxBlockBytes`), and inserted with one statement
/// (`INSERT ... SELECT * FROM unnest(...)`).
struct PostgresBlockRows {
    private var ids: [Int32] = []
    private var tiers: [Int] = []
    private var firsts: [EpochMillis] = []
    private var lasts: [EpochMillis] = []
    private var counts: [Int] = []
    private var data: [[UInt8]] = []

    /// The sample blocks of `samples` (in time order, distinct times) of series `id`.
    mutating func add(_ id: Int32, samples: [Sample]) {
        BlockCutter.cut(samples, maxCount: PostgresStore.maxSamplesPerBlock, maxBytes: PostgresStore.maxBlockBytes,
                        encode: { SampleBlock.encode(Array($0)) }) { range, bytes in
            append(id, nil, samples[range.lowerBound].time, samples[range.upperBound - 1].time, range.count, bytes)
        }
    }

    /// The rollup blocks of `buckets` (in start order) of series `id` and `tier`.
    mutating func add(_ id: Int32, tier: Tier, buckets: [(start: EpochMillis, bucket: Bucket)]) {
        BlockCutter.cut(buckets, maxCount: PostgresStore.maxBucketsPerBlock, maxBytes: PostgresStore.maxBlockBytes,
                        encode: { RollupBlock.encode(Array($0)) }) { range, bytes in
            append(id, tier, buckets[range.lowerBound].start, buckets[range.upperBound - 1].start, range.count, bytes)
        }
    }

    private mutating func append(_ id: Int32, _ tier: Tier?, _ first: EpochMillis, _ last: EpochMillis, _ count: Int, _ bytes: [UInt8]) {
        ids.append(id)
        if let tier { tiers.append(tier.rawValue) }
        firsts.append(first)
        lasts.append(last)
        counts.append(count)
        data.append(bytes)
    }

    /// Inserts the sample blocks added.
    func insertSamples(_ c: PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        try c.execute("""
            INSERT INTO sample_blocks (series_id, first_t, last_t, count, data)
            SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::int[], $5::bytea[])
            """, [PostgresArray.ints(ids), PostgresArray.ints(firsts), PostgresArray.ints(lasts),
                  PostgresArray.ints(counts), PostgresArray.byteas(data)])
    }

    /// Inserts the rollup blocks added.
    func insertRollups(_ c: PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        try c.execute("""
            INSERT INTO rollup_blocks (series_id, tier, first_start, last_start, count, data)
            SELECT * FROM unnest($1::int[], $2::smallint[], $3::bigint[], $4::bigint[], $5::int[], $6::bytea[])
            """, [PostgresArray.ints(ids), PostgresArray.ints(tiers), PostgresArray.ints(firsts),
                  PostgresArray.ints(lasts), PostgresArray.ints(counts), PostgresArray.byteas(data)])
    }
}

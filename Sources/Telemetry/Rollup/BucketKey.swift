/// Names one rollup row: a tier, a series and the bucket's start time.
public struct BucketKey: Hashable, Sendable {
    public var tier: Tier
    public var series: SeriesID
    public var start: EpochMillis

    public init(tier: Tier, series: SeriesID, start: EpochMillis) {
        self.tier = tier
        self.series = series
        self.start = start
    }
}

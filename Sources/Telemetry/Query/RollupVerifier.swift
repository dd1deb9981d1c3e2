import Foundation

/// Recomputes every stored rollup tier from the stored raw readings, through the store's
/// read API (`RollupSource`: `TelemetryReader`, `PostgresStore`), and reports each bucket that differs: missing, extra, or
/// with another count, sum, minimum, maximum, first or last. `collector verify` runs it
/// after a crash or a restore; the chaos script and the exactness tests rely on it rather
/// than on the storage layout.
///
/// Raw readings are kept for a retention while rollups stay longer, so only buckets that
/// start at or after `from` are checked: before it, raw may have been pruned. Sums are
/// compared up to floating-point summation order (a relative 1e-9); everything else exactly.
///
/// The recompute shares no code with the write path: it aggregates with plain comparisons
/// (not `Bucket.add`) and finds local midnights with Foundation's calendar (not `LocalDays`),
/// so a bug in either shows up as a mismatch rather than being repeated on both sides.
public struct RollupVerifier: Sendable {
    /// One bucket whose stored rollup differs from the recompute (nil: no such bucket).
    public struct Mismatch: Sendable, CustomStringConvertible {
        public var series: SeriesName
        public var tier: Tier
        public var start: EpochMillis
        public var stored: Bucket?
        public var recomputed: Bucket?

        public var description: String {
            func text(_ b: Bucket?) -> String {
                guard let b else { return "none" }
                return "count \(b.count) sum \(b.sum) min \(b.min) max \(b.max) first \(b.first)@\(b.firstTime) last \(b.last)@\(b.lastTime)"
            }
            return "\(series) \(tier) bucket \(start): stored \(text(stored)); recomputed from raw \(text(recomputed))"
        }
    }

    /// What a verification found.
    public struct Report: Sendable {
        public var series = 0
        public var readings = 0
        /// Raw readings per metric name (every series of that metric).
        public var readingsByMetric: [String: Int] = [:]
        /// Buckets checked, per tier.
        public var buckets: [Tier: Int] = [:]
        /// Buckets that differ, per tier.
        public var mismatchCount: [Tier: Int] = [:]
        /// The first mismatches found (at most `maxReported`).
        public var mismatches: [Mismatch] = []
        /// Series whose tier is answered from raw readings (`TierSizing`), per tier: their
        /// buckets are checked as well, through the same read API.
        public var fromRaw: [Tier: Int] = [:]
        public var isExact: Bool { mismatchCount.values.allSatisfy { $0 == 0 } }
    }

    public let source: any RollupSource
    /// Readings read per query while recomputing a series.
    public var pageSize = 100_000
    private let calendar: Calendar

    public init(source: any RollupSource, timeZone: TimeZoneID) {
        self.source = source
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone.zone
        calendar = c
    }

    /// The start of the bucket of `tier` holding `t`: epoch-aligned minutes, quarters and
    /// hours; local days by the calendar (`day` caches the last one looked up).
    private func bucketStart(_ tier: Tier, _ t: EpochMillis, day: inout (start: EpochMillis, end: EpochMillis)) -> EpochMillis {
        guard tier == .day else { return (t >= 0 ? t : t - tier.widthMillis + 1) / tier.widthMillis * tier.widthMillis }
        if t >= day.start && t < day.end { return day.start }
        let date = Date(timeIntervalSince1970: Double(t) / 1000)
        let start = calendar.startOfDay(for: date)
        let next = calendar.date(byAdding: .day, value: 1, to: start) ?? start.addingTimeInterval(86_400)
        day = (EpochMillis((start.timeIntervalSince1970 * 1000).rounded()), EpochMillis((next.timeIntervalSince1970 * 1000).rounded()))
        return day.start
    }

    /// Adds one reading to a recomputed bucket, with nothing from `Bucket`'s own methods.
    private static func fold(_ b: inout Bucket?, time: EpochMillis, value: Double) {
        guard var x = b else {
            b = Bucket(count: 1, sum: value, min: value, max: value, firstTime: time, first: value, lastTime: time, last: value)
            return
        }
        x.count += 1
        x.sum += value
        x.min = Swift.min(x.min, value)
        x.max = Swift.max(x.max, value)
        if time < x.firstTime { x.firstTime = time; x.first = value }
        if time > x.lastTime { x.lastTime = time; x.last = value }
        b = x
    }

    /// Checks every stored series' buckets that start at or after `from` (and, for a tier in
    /// `tierFrom`, at or after that: a tier kept for less than raw); keeps the first
    /// `maxReported` mismatches in the report (all are counted).
    public func verify(from: EpochMillis, tierFrom: [Tier: EpochMillis] = [:], maxReported: Int = 20) async throws -> Report {
        let to = EpochMillis.max
        var report = Report()
        var lower: [EpochMillis] = []
        for tier in Tier.allCases {
            report.buckets[tier] = 0
            report.mismatchCount[tier] = 0
            lower.append(max(from, tierFrom[tier] ?? from))
        }
        report.fromRaw = try await source.tiersFromRaw()
        for info in try await source.verifiedSeries() {
            report.series += 1
            var recomputed: [Tier: [EpochMillis: Bucket]] = [:]
            var day: (start: EpochMillis, end: EpochMillis) = (0, 0)
            var next = from
            while next < to {
                let (page, more) = try await source.rawPage(info.id, from: next, to: to, limit: pageSize)
                for s in page {
                    for tier in Tier.allCases {
                        let start = bucketStart(tier, s.time, day: &day)
                        // A day bucket can start before `from` and still hold this reading.
                        guard start >= lower[tier.rawValue] else { continue }
                        Self.fold(&recomputed[tier, default: [:]][start], time: s.time, value: s.value)
                    }
                }
                report.readings += page.count
                report.readingsByMetric[info.name.metric, default: 0] += page.count
                guard more, let last = page.last else { break }
                next = last.time + 1
            }
            for tier in Tier.allCases {
                let stored = try await source.storedBuckets(info.id, tier: tier, from: lower[tier.rawValue], to: to)
                    .filter { $0.key >= lower[tier.rawValue] }
                let fresh = recomputed[tier] ?? [:]
                report.buckets[tier, default: 0] += Set(stored.keys).union(fresh.keys).count
                for start in Set(stored.keys).union(fresh.keys).sorted() {
                    let a = stored[start], b = fresh[start]
                    if let a, let b, Self.same(a, b) { continue }
                    report.mismatchCount[tier, default: 0] += 1
                    if report.mismatches.count < maxReported {
                        report.mismatches.append(Mismatch(series: info.name, tier: tier, start: start, stored: a, recomputed: b))
                    }
                }
            }
        }
        return report
    }

    /// Equal up to the order of a floating-point sum.
    static func same(_ a: Bucket, _ b: Bucket) -> Bool {
        a.count == b.count && a.min == b.min && a.max == b.max
            && a.firstTime == b.firstTime && a.first == b.first && a.lastTime == b.lastTime && a.last == b.last
            && abs(a.sum - b.sum) <= 1e-9 * Swift.max(1, abs(b.sum))
    }
}

import Testing
@testable import Telemetry

/// `LTTBStream` (two buckets in memory) picks exactly what the whole-array algorithm picks,
/// for random series of many lengths and thresholds; and with the wrong count it still
/// answers from what came.
@Suite struct LTTBTests {
    /// The whole-array algorithm, written plainly: the oracle.
    static func reference(_ points: [Sample], _ threshold: Int) -> [Sample] {
        guard threshold >= 3, points.count > threshold else { return points }
        var out = [points[0]]
        let every = Double(points.count - 2) / Double(threshold - 2)
        var a = 0
        for i in 0..<(threshold - 2) {
            let nextStart = Int(Double(i + 1) * every) + 1
            let nextEnd = min(Int(Double(i + 2) * every) + 1, points.count)
            var avgT = 0.0, avgV = 0.0
            for p in points[nextStart..<nextEnd] { avgT += Double(p.time); avgV += p.value }
            let n = Double(max(nextEnd - nextStart, 1))
            avgT /= n
            avgV /= n
            let start = Int(Double(i) * every) + 1, end = Int(Double(i + 1) * every) + 1
            var best = start, bestArea = -1.0
            for j in start..<end {
                let area = abs((Double(points[a].time) - avgT) * (points[j].value - points[a].value)
                    - (Double(points[a].time) - Double(points[j].time)) * (avgV - points[a].value))
                if area > bestArea { bestArea = area; best = j }
            }
            out.append(points[best])
            a = best
        }
        out.append(points[points.count - 1])
        return out
    }

    /// The four-lane scan picks the first largest triangle, as one scan does, ties included
    /// (values of 0 and 1 on a regular grid make many).
    @Test func theLargestTriangleIsTheFirstOfTheLargest() {
        var rng = SplitMix64(seed: 12)
        for _ in 0..<2_000 {
            let n = Int(rng.next() % 40) + 1
            let bucket = (0..<n).map { Sample(time: EpochMillis($0) * 10, value: Double(rng.next() % 2)) }
            let a = Sample(time: -10 * EpochMillis(rng.next() % 5 + 1), value: Double(rng.next() % 2))
            let avgT = Double(n * 10 + Int(rng.next() % 50)), avgV = Double(rng.next() % 3) / 2
            var best = 0, bestArea = -1.0
            for (j, p) in bucket.enumerated() {
                let area = abs((Double(a.time) - avgT) * (p.value - a.value) - (Double(a.time) - Double(p.time)) * (avgV - a.value))
                if area > bestArea { bestArea = area; best = j }
            }
            #expect(LTTBStream.largestTriangle(bucket, a: a, avgT: avgT, avgV: avgV) == best)
        }
    }

    /// Up to 3,000 increasing times 1 ms to 20 s apart, one-decimal values, and a threshold
    /// under 400.
    static func randomSeries(_ rng: inout SplitMix64) -> (points: [Sample], threshold: Int) {
        let n = Int(rng.next() % 3000)
        var t: EpochMillis = 0
        let points = (0..<n).map { _ in
            t += EpochMillis(1 + rng.next() % 20_000)
            return Sample(time: t, value: Double(Int(rng.next() % 2001) - 1000) / 10)
        }
        return (points, Int(rng.next() % 400))
    }

    @Test func theStreamPicksWhatTheWholeArrayAlgorithmPicks() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<300 {
            let (points, threshold) = Self.randomSeries(&rng)
            let n = points.count
            #expect(LTTB.downsample(points, to: threshold) == Self.reference(points, threshold), "n \(n), threshold \(threshold)")
        }
    }

    /// Points handed a run at a time (`add(contentsOf:)`, a block's samples) give the picks
    /// of points handed one by one, whatever the runs' lengths, with the right count or not.
    @Test func runsPickWhatSinglePointsPick() {
        var rng = SplitMix64(seed: 12)
        for round in 0..<300 {
            let (points, threshold) = Self.randomSeries(&rng)
            let n = points.count
            let count = round % 5 == 0 ? n + Int(rng.next() % 7) - 3 : n
            var one = LTTBStream(count: count, threshold: threshold), runs = LTTBStream(count: count, threshold: threshold)
            for p in points { one.add(p) }
            var i = 0
            while i < points.count {
                let k = min(points.count - i, Int(rng.next() % 300))
                if k == 0 { runs.add(points[i]); i += 1; continue }
                runs.add(contentsOf: points[i..<i + k])
                i += k
            }
            #expect(runs.finish() == one.finish(), "n \(n), threshold \(threshold), count \(count)")
        }
    }

    @Test func aWrongCountStillGivesAnAnswerFromWhatCame() {
        let points = (0..<1000).map { Sample(time: EpochMillis($0), value: Double($0 % 17)) }
        for count in [500, 2000] {
            var s = LTTBStream(count: count, threshold: 100)
            for p in points { s.add(p) }
            let out = s.finish()
            #expect(out.first == points.first && out.last == points.last)
            #expect(out.count <= 100 && zip(out, out.dropFirst()).allSatisfy { $0.time < $1.time }, "count \(count): \(out.count)")
        }
        // Announced a few more than came (a pending reading counted twice): no point twice.
        for extra in 1...5 {
            var s = LTTBStream(count: 1000 + extra, threshold: 999)
            for p in points { s.add(p) }
            let out = s.finish()
            #expect(out.last == points.last && zip(out, out.dropFirst()).allSatisfy { $0.time < $1.time }, "extra \(extra)")
        }
    }
}

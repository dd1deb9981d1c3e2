/// Largest-Triangle-Three-Buckets (Steinarsson, 2013): picks `threshold` of `points` that
/// keep the visual shape, peaks included. First and last points are always kept.
public enum LTTB {
    public static func downsample(_ points: [Sample], to threshold: Int) -> [Sample] {
        var stream = LTTBStream(count: points.count, threshold: threshold)
        for p in points { stream.add(p) }
        return stream.finish()
    }
}

/// LTTB over points handed one at a time, oldest first, when their number is known up front
/// (`count`): memory for two buckets, not the whole range, so a year of raw readings can be
/// drawn as 1,000 points. The buckets are those of the batch algorithm: points 1 ... count-2
/// split by index into `threshold - 2` buckets; bucket i keeps the point that makes the largest
/// triangle with the point kept before it and the average of bucket i + 1 (the last bucket:
/// of the points after it, the last point included). If more or fewer points arrive than
/// `count`, the answer is still a valid downsampling, from the points that came.
public struct LTTBStream {
    private let count: Int
    private let threshold: Int
    private let every: Double
    /// Fewer points than the threshold: all of them are the answer.
    private let passThrough: Bool
    private var out: [Sample] = []
    private var index = 0
    /// The bucket being filled (`buckets` = threshold - 2 is the tail after the last bucket).
    private var filling = 0
    private var fillingPoints: [Sample] = []
    /// The sums of the filling bucket's times and values, in the order its points came (the
    /// waiting bucket's selection takes their average without a second pass).
    private var fillingSumT = 0.0, fillingSumV = 0.0
    /// The filled bucket waiting for the next one's average.
    private var waiting: [Sample]?
    private var last: Sample?
    /// `start(filling + 1)`, kept (not recomputed at every point).
    private var nextStart = 0

    public init(count: Int, threshold: Int) {
        self.count = count
        self.threshold = threshold
        passThrough = threshold < 3 || count <= threshold
        every = passThrough ? 0 : Double(count - 2) / Double(threshold - 2)
        out.reserveCapacity(passThrough ? min(count, 100_000) : threshold)
        if !passThrough { nextStart = start(1) }
    }

    private var buckets: Int { threshold - 2 }

    /// Where bucket `i` starts (bucket `buckets` is the tail).
    private func start(_ i: Int) -> Int { Int(Double(i) * every) + 1 }

    public mutating func add(_ p: Sample) {
        defer { index += 1; last = p }
        if passThrough { out.append(p); return }
        if index == 0 { out.append(p); return }
        // Past the bucket being filled: it is complete.
        while index >= nextStart && filling < buckets {
            complete()
        }
        fillingPoints.append(p)
        fillingSumT += Double(p.time)
        fillingSumV += p.value
    }

    /// `add` for each point of `points` (oldest first), a bucket's run at a time: the same
    /// buckets, sums and picks.
    public mutating func add(contentsOf points: ArraySlice<Sample>) {
        var i = points.startIndex
        while i < points.endIndex && (index == 0 || passThrough) {
            add(points[i])
            i += 1
            if passThrough {
                out.append(contentsOf: points[i...])
                index += points.endIndex - i
                last = points.last
                return
            }
        }
        while i < points.endIndex {
            while index >= nextStart && filling < buckets { complete() }
            let room = filling < buckets ? nextStart - index : points.endIndex - i
            let run = points[i..<min(points.endIndex, i + room)]
            fillingPoints.append(contentsOf: run)
            for p in run {
                fillingSumT += Double(p.time)
                fillingSumV += p.value
            }
            index += run.count
            last = run.last
            i = run.endIndex
        }
    }

    /// The bucket being filled is complete: the waiting one takes its average; it waits in turn.
    private mutating func complete() {
        if let w = waiting { select(from: w, nextCount: fillingPoints.count, sumT: fillingSumT, sumV: fillingSumV) }
        waiting = fillingPoints
        fillingPoints = []
        (fillingSumT, fillingSumV) = (0, 0)
        fillingPoints.reserveCapacity(Int(every) + 2)
        filling += 1
        nextStart = filling < buckets ? start(filling + 1) : .max
    }

    /// Keeps the point of `bucket` that makes the largest triangle with the point kept before
    /// it and the next bucket's average (its `nextCount` points' sums).
    private mutating func select(from bucket: [Sample], nextCount: Int, sumT: Double, sumV: Double) {
        guard let a = out.last, !bucket.isEmpty else { return }
        var avgT = sumT, avgV = sumV
        if nextCount == 0, let last {
            // Fewer points came than announced: the newest stands for the next bucket.
            (avgT, avgV) = (Double(last.time), last.value)
        } else {
            let n = Double(max(nextCount, 1))
            avgT /= n
            avgV /= n
        }
        out.append(bucket[Self.largestTriangle(bucket, a: a, avgT: avgT, avgV: avgV)])
    }

    /// The index of the first point of `bucket` with the largest triangle (`a`, it, the
    /// average). Four interleaved scans, each keeping its own first largest (one running
    /// maximum was a chain of dependent compares, a point at a time); then the largest of the
    /// four, the earliest index on a tie: the same pick as one scan.
    static func largestTriangle(_ bucket: [Sample], a: Sample, avgT: Double, avgV: Double) -> Int {
        let at = Double(a.time), dt = at - avgT, dv = avgV - a.value
        @inline(__always) func area(_ p: Sample) -> Double { abs(dt * (p.value - a.value) - (at - Double(p.time)) * dv) }
        return bucket.withUnsafeBufferPointer { b in
            var best0 = -1.0, best1 = -1.0, best2 = -1.0, best3 = -1.0
            var i0 = 0, i1 = 0, i2 = 0, i3 = 0
            var i = 0
            while i &+ 4 <= b.count {
                let x0 = area(b[i]), x1 = area(b[i &+ 1]), x2 = area(b[i &+ 2]), x3 = area(b[i &+ 3])
                if x0 > best0 { best0 = x0; i0 = i }
                if x1 > best1 { best1 = x1; i1 = i &+ 1 }
                if x2 > best2 { best2 = x2; i2 = i &+ 2 }
                if x3 > best3 { best3 = x3; i3 = i &+ 3 }
                i &+= 4
            }
            while i < b.count {
                let x = area(b[i])
                if x > best0 || (x == best0 && i < i0) { best0 = x; i0 = i }
                i &+= 1
            }
            var best = best0, at = i0
            @inline(__always) func take(_ x: Double, _ k: Int) {
                if x > best || (x == best && k < at) { (best, at) = (x, k) }
            }
            take(best1, i1)
            take(best2, i2)
            take(best3, i3)
            return at
        }
    }

    /// The chosen points, oldest first.
    public mutating func finish() -> [Sample] {
        if passThrough || index == 0 { return out }
        // Buckets that never got a point of their own still pass through `complete`.
        while filling < buckets { complete() }
        // The last bucket against the tail (the points after it, the last one included).
        if let w = waiting { select(from: w, nextCount: fillingPoints.count, sumT: fillingSumT, sumV: fillingSumV) }
        waiting = nil
        if let last, index > 1, out.last?.time != last.time { out.append(last) }
        return out
    }
}

/// Largest-Triangle-Three-Buckets (Steinarsson, 2013): picks `threshold` of `points` that
/// keep the visual shape, peaks included. First and last points are always kept.
public enum LTTB {
    public static func downsample(_ points: [Sample], to threshold: Int) -> [Sample] {
        guard threshold >= 3, points.count > threshold else { return points }
        var out: [Sample] = []
        out.reserveCapacity(threshold)
        out.append(points[0])
        let every = Double(points.count - 2) / Double(threshold - 2)
        var a = 0
        for i in 0..<(threshold - 2) {
            // Average of the next bucket: the third corner of the triangle.
            let nextStart = Int(Double(i + 1) * every) + 1
            let nextEnd = min(Int(Double(i + 2) * every) + 1, points.count)
            var avgT = 0.0, avgV = 0.0
            for p in points[nextStart..<nextEnd] { avgT += Double(p.time); avgV += p.value }
            let n = Double(max(nextEnd - nextStart, 1))
            avgT /= n
            avgV /= n
            // The point of this bucket with the largest triangle area.
            let start = Int(Double(i) * every) + 1
            let end = Int(Double(i + 1) * every) + 1
            let pa = points[a]
            var best = start
            var bestArea = -1.0
            for j in start..<end {
                let area = abs((Double(pa.time) - avgT) * (points[j].value - pa.value)
                    - (Double(pa.time) - Double(points[j].time)) * (avgV - pa.value))
                if area > bestArea { bestArea = area; best = j }
            }
            out.append(points[best])
            a = best
        }
        out.append(points[points.count - 1])
        return out
    }
}

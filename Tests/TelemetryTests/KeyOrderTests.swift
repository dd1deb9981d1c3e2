import Testing
@testable import Telemetry

/// A batch put in key order by counting sort must be the comparison sort's order exactly:
/// (series, time), ties in arrival order.
struct KeyOrderTests {
    func naive(_ readings: [BoundReading]) -> [Int] {
        readings.indices.sorted { (readings[$0].series.rawValue, readings[$0].time, $0) < (readings[$1].series.rawValue, readings[$1].time, $1) }
    }

    @Test func equalsTheComparisonSort() {
        var rng = SystemRandomNumberGenerator()
        var order = KeyOrder()
        var got: [Int] = []
        for round in 0..<300 {
            let n = Int.random(in: 0...400, using: &rng)
            // Dense ids, sparse ids (the comparison path), few times (ties), time order or not.
            let ids: ClosedRange<Int32> = round % 3 == 0 ? 0...5_000_000 : 0...Int32.random(in: 0...50, using: &rng)
            let inOrder = round % 2 == 0
            var readings: [BoundReading] = []
            for k in 0..<n {
                let t: Int64 = inOrder ? Int64(k / 7) : Int64.random(in: 0...20, using: &rng)
                readings.append(BoundReading(series: SeriesID(Int32.random(in: ids, using: &rng)), time: t, value: Double(k)))
            }
            order.indices(of: readings, into: &got)
            #expect(got == naive(readings), "round \(round)")
            #expect(order.sorted(readings) == naive(readings).map { readings[$0] })
        }
    }
}

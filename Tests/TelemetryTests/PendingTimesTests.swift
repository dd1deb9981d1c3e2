import Testing
@testable import Telemetry

/// `PendingTimes` answers like a set of (series, time) keys, whatever the order of inserts
/// (in order, late, far back) and removals (one by one, or a series at once).
@Suite struct PendingTimesTests {
    @Test(arguments: [1, 2, 3])
    func behavesLikeASet(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var times = PendingTimes()
        var oracle = Set<[Int64]>()
        var newest = [Int64](repeating: 0, count: 8)
        for step in 0..<20_000 {
            let s = Int(rng.next() % 8)
            switch rng.next() % 10 {
            case 0..<6:   // mostly in order, sometimes late
                let t = rng.next() % 5 == 0 ? Int64(rng.next() % 100_000) : newest[s] + Int64(1 + rng.next() % 20)
                newest[s] = max(newest[s], t)
                if !oracle.contains([Int64(s), t]) {
                    oracle.insert([Int64(s), t])
                    times.insert(t, series: s)
                }
            case 6..<9:
                let t = Int64(rng.next() % 100_000)
                oracle.remove([Int64(s), t])   // absent or not
                times.remove(t, series: s)
            default:
                if step % 7 == 0 {
                    oracle = oracle.filter { $0[0] != Int64(s) }
                    times.removeAll(series: s)
                }
            }
            let probe = Int64(rng.next() % 100_000)
            #expect(times.contains(probe, series: s) == oracle.contains([Int64(s), probe]))
            if step % 500 == 0 { #expect(times.count(series: s) == oracle.filter { $0[0] == Int64(s) }.count) }
        }
        for key in oracle { #expect(times.contains(key[1], series: Int(key[0]))) }
        #expect(!times.contains(5, series: 99) && times.count(series: 99) == 0)
    }
}

import Alerts
import Testing
import Telemetry

@Suite struct HydroDerivedTests {
    /// After every reading, the running sum equals a naive sum over the window of the newest.
    @Test(arguments: [1, 2, 3])
    func rollingSumMatchesNaive(seed: UInt64) {
        var state = seed
        func next(_ n: UInt64) -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 33) % n
        }
        let window: EpochMillis = 86_400_000
        var w = RollingSum(window: window)
        var seen: [EpochMillis: Double] = [:]
        var clock: EpochMillis = 0
        for _ in 0..<2000 {
            clock += EpochMillis(next(600)) * 1000
            // mostly in order, sometimes late by up to 30 hours
            let t = next(10) == 0 ? clock - EpochMillis(next(30 * 3600)) * 1000 : clock
            guard seen[t] == nil else { continue }          // storage dedupes (series, time)
            let v = Double(next(200)) / 4
            seen[t] = v
            w.add(Sample(time: t, value: v))
            let newest = seen.keys.max()!
            let naive = seen.filter { $0.key > newest - window }.values.reduce(0, +)
            #expect(abs(w.sum - naive) < 1e-6)
        }
    }

    @Test func alarmLevelsAndRise() {
        let levels = [3.0, 3.8, 4.5]
        #expect([2.99, 3.0, 3.79, 3.8, 4.49, 4.5, 9].map { WaterAlarm.level($0, levels: levels) } == [0, 1, 1, 2, 2, 3, 3])
        let recent = [Sample(time: 0, value: 2.0), Sample(time: 1_800_000, value: 2.2)]
        // The window [latest - 1 h, latest) includes a reading exactly an hour old.
        #expect(WaterAlarm.risePerHour(Sample(time: 3_600_000, value: 2.5), recent: recent).map { abs($0 - 0.5) < 1e-6 } == true)
        #expect(WaterAlarm.risePerHour(Sample(time: 3_600_001, value: 2.5), recent: recent).map { abs($0 - 0.6) < 1e-3 } == true)
        #expect(WaterAlarm.risePerHour(Sample(time: 1_900_000, value: 2.5), recent: [Sample(time: 1_800_000, value: 2.2)]) == nil)
    }
}

import Alerts
import Testing
import Telemetry

/// A DMA's water balance worked by hand: an inflow meter and two customers reading every 6 h
/// (four readings a local day, Asia/Ho_Chi_Minh, UTC+7), and the night flow of an hourly
/// inflow meter over ten nights.
@Suite struct WaterBalanceTests {
    let tz = TimeZoneID("Asia/Ho_Chi_Minh")!
    /// Local midnight of 2026-12-01 in Ho Chi Minh City (17:00 UTC the day before).
    let day0: EpochMillis = 1_796_058_000_000
    let hour: EpochMillis = 3_600_000

    @Test func aDayIsReportedOnceCompleteWithItsLoss() {
        var w = WaterBalanceTracker(inflow: .init(id: "in", intervalMillis: 6 * hour),
                                    customers: [.init(id: "c1", intervalMillis: 6 * hour), .init(id: "c2", intervalMillis: 6 * hour)],
                                    timeZone: tz)
        // Inflow 100 m3 a quarter day (400 m3); customers 40 + 30 m3 a quarter (280 m3): 120 m3
        // lost, 30 %. Readings arrive shuffled; the day is complete at the last one.
        var feed: [(String, EpochMillis, Double)] = []
        for q in 0..<4 { feed += [("in", day0 + EpochMillis(q) * 6 * hour, 100), ("c1", day0 + EpochMillis(q) * 6 * hour, 40),
                                  ("c2", day0 + EpochMillis(q) * 6 * hour, 30)] }
        var order = Array(feed.indices)
        var rng = SplitMix64(seed: 3)
        order.shuffle(using: &rng)
        var days: [WaterBalanceTracker.Day] = []
        for (k, i) in order.enumerated() {
            let (m, t, v) = feed[i]
            if let d = w.record(meter: m, time: t, volumeM3: v).day { days.append(d); #expect(k == order.count - 1) }
        }
        #expect(days.count == 1 && days.first?.start == day0 && days.first?.inflowM3 == 400 && days.first?.customersM3 == 280)
        #expect(days.first?.nrwPct == 30)
        // A reading of the next day does not report this one again.
        #expect(w.record(meter: "in", time: day0 + 24 * hour, volumeM3: 100).day == nil)
    }

    @Test func anInflowMeterReadingNothingIsAFaultNotNoLoss() {
        #expect(WaterBalanceTracker.nrwPct(inflow: 0, customers: 12) == nil)
        #expect(WaterBalanceTracker.nrwPct(inflow: 0, customers: 0) == 0)
        #expect(WaterBalanceTracker.nrwPct(inflow: 200, customers: 170) == 15)
    }

    /// Night flows (m3/h, the lowest of 02:00 and 03:00) of 10, 12, 9, 11, 10, 10, 11 for seven
    /// nights: the eighth's baseline is their median, 10, and its 10.5 is 5 % up (not rising).
    /// The baseline moves with the nights: 12 against 10.5 (the median of 12, 9, 11, 10, 10,
    /// 11, 10.5) is 14.3 % up, rising 1; 13 against 10.5, rising 2; 14 against 11, rising 3.
    @Test func nightFlowAgainstTheMedianOfSevenNights() {
        var w = WaterBalanceTracker(inflow: .init(id: "in", intervalMillis: hour), customers: [], timeZone: tz)
        let lows: [Double] = [10, 12, 9, 11, 10, 10, 11, 10.5, 12, 13, 14]
        var nights: [WaterBalanceTracker.Night] = []
        for (n, low) in lows.enumerated() {
            let midnight = day0 + EpochMillis(n) * 24 * hour
            for h in 0..<24 {
                // 02:00 is the low; 03:00 a little more; the day far above.
                let v = h == 2 ? low : h == 3 ? low + 1 : 40
                if let night = w.record(meter: "in", time: midnight + EpochMillis(h) * hour, volumeM3: v).night { nights.append(night) }
            }
        }
        #expect(nights.map(\.minFlowM3h) == lows)
        #expect(nights.map(\.day) == lows.indices.map { day0 + EpochMillis($0) * 24 * hour })
        #expect(nights.prefix(7).allSatisfy { $0.baselineM3h == nil && $0.risePct == nil && $0.risingNights == 0 })
        #expect(nights[7].baselineM3h == 10 && nights[7].risePct == 5 && nights[7].risingNights == 0)
        #expect(nights[8].baselineM3h == 10.5 && nights[8].risePct.map { abs($0 - 14.2857) < 1e-3 } == true && nights[8].risingNights == 1)
        #expect(nights[9].baselineM3h == 10.5 && nights[9].risingNights == 2)
        #expect(nights[10].baselineM3h == 11 && nights[10].risingNights == 3)
    }

    /// A restart seeds the nights stored before it: the baseline and the chain of rising nights
    /// carry on exactly as in a tracker that never stopped, and a seeded night whose readings
    /// are replayed is not reported again.
    @Test func aRestartCarriesTheRisingNightsOn() {
        func lows(_ n: Int) -> Double { n < 7 ? 10 : 10 + 2 * Double(n - 6) }   // a leak from night 7 on
        func feed(_ w: inout WaterBalanceTracker, nights: Range<Int>) -> [WaterBalanceTracker.Night] {
            var out: [WaterBalanceTracker.Night] = []
            for n in nights {
                let midnight = day0 + EpochMillis(n) * 24 * hour
                for h in 0..<24 {
                    let v = h == 2 ? lows(n) : h == 3 ? lows(n) + 1 : 40
                    if let night = w.record(meter: "in", time: midnight + EpochMillis(h) * hour, volumeM3: v).night { out.append(night) }
                }
            }
            return out
        }
        var whole = WaterBalanceTracker(inflow: .init(id: "in", intervalMillis: hour), customers: [], timeZone: tz)
        let all = feed(&whole, nights: 0..<14)
        #expect(all.map(\.risingNights) == [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
        // Restarted before night 12: seeded with what was stored, its last night replayed.
        var restarted = WaterBalanceTracker(inflow: .init(id: "in", intervalMillis: hour), customers: [], timeZone: tz)
        restarted.seed(nights: Array(all.prefix(12)).map {
            WaterBalanceTracker.Night(day: $0.day, minFlowM3h: $0.minFlowM3h, baselineM3h: nil, risePct: nil, risingNights: $0.risingNights)
        })
        let after = feed(&restarted, nights: 11..<14)
        #expect(after.map(\.day) == all.suffix(2).map(\.day))   // night 11 is not reported again
        #expect(after.map(\.risingNights) == [6, 7] && after.map(\.minFlowM3h) == all.suffix(2).map(\.minFlowM3h))
        #expect(after.map(\.risePct) == all.suffix(2).map(\.risePct))
    }

    /// A gap breaks "consecutive": a rising night after a night with no report starts again at 1.
    @Test func risingNightsMustBeConsecutive() {
        var w = WaterBalanceTracker(inflow: .init(id: "in", intervalMillis: hour), customers: [], timeZone: tz)
        func night(_ n: Int, _ low: Double) -> WaterBalanceTracker.Night? {
            let midnight = day0 + EpochMillis(n) * 24 * hour
            _ = w.record(meter: "in", time: midnight + 2 * hour, volumeM3: low)
            return w.record(meter: "in", time: midnight + 3 * hour, volumeM3: low + 1).night
        }
        for n in 0..<7 { _ = night(n, 10) }
        #expect(night(7, 13)?.risingNights == 1)
        #expect(night(8, 13)?.risingNights == 2)
        #expect(night(10, 14)?.risingNights == 1)   // night 9 never reported
    }
}

import Alerts
import Foundation
import Testing
import Telemetry

/// AQI, NowCast, flood risk, energy loss, outage and congestion, worked by hand from docs/domain.md.
@Suite struct DerivedIndexTests {
    static let tz = TimeZone(identifier: "Asia/Ho_Chi_Minh")!
    /// 2026-11-18T00:00+07:00
    static let day0: EpochMillis = 1_794_934_800_000
    static func at(_ day: Int, _ hour: Double) -> EpochMillis { day0 + EpochMillis(day) * 86_400_000 + EpochMillis(hour * 3_600_000) }

    @Test func aqiAtBreakpointEdges() {
        // PM2.5 breakpoints 0, 25, 50, 80, 150, 250, 350, 500 -> 0, 50, ..., 500.
        #expect([0, 25, 50, 80, 150, 250, 350, 500].map { VNAQI.subIndex(.pm25, $0) } == [0, 50, 100, 150, 200, 300, 400, 500])
        // 24.9: 50/25 * 24.9 = 49.8 -> 50; 37.5: 50 + 2 * 12.5 = 75; 65: 100 + 50/30 * 15 = 125
        #expect(VNAQI.subIndex(.pm25, 24.9) == 50)
        #expect(VNAQI.subIndex(.pm25, 37.5) == 75)
        #expect(VNAQI.subIndex(.pm25, 65) == 125)
        // PM10 breakpoints 0, 50, 150, 250, 350, 420, 500, 600
        #expect([50, 150, 250, 350, 420, 500, 600].map { VNAQI.subIndex(.pm10, $0) } == [50, 100, 150, 200, 300, 400, 500])
        // 385: 200 + 100/70 * 35 = 250; at and past the top the Decision's table gives 500
        #expect(VNAQI.subIndex(.pm10, 385) == 250)
        #expect(VNAQI.subIndex(.pm10, 700) == 500)
        #expect(VNAQI.subIndex(.pm25, 500) == 500 && VNAQI.subIndex(.pm25, 1200) == 500)
        #expect(VNAQI.subIndex(.pm10, -3) == 0)
        #expect(VNAQI.aqi(pm25: 37.5, pm10: 385) == 250)
        #expect(VNAQI.aqi(pm25: nil, pm10: nil) == nil)
        #expect([50, 51, 100, 101, 150, 151, 200, 201, 300, 301].map(VNAQI.category) == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
    }

    @Test func nowCastByHand() throws {
        // w* = 20/40 = 0.5 -> (40 + 0.5*30 + 0.25*20) / (1 + 0.5 + 0.25) = 60 / 1.75 = 34.29
        // (the Decision's undivided 0.5*40 + 0.25*30 + 0.125*20 = 30 reads low with 3 hours of 12)
        #expect(abs(try #require(NowCast.value([40, 30, 20])) - 60 / 1.75) < 1e-9)
        // w = 20/30: (30 + 2/3*25 + 4/9*20) / (1 + 2/3 + 4/9) = 55.5556 / 2.1111 = 26.3158
        #expect(abs(try #require(NowCast.value([30, 25, 20])) - 26.3158) < 0.0001)
        // latest hour missing: (2/3*30 + 4/9*20) / (2/3 + 4/9) = 28.8889 / 1.1111 = 26
        #expect(abs(try #require(NowCast.value([nil, 30, 20])) - 26) < 1e-9)
        // fewer than 2 of the latest 3 hours: no value
        #expect(NowCast.value([nil, nil, 20, 30]) == nil)
        #expect(NowCast.value([]) == nil)
        // w below 0.5 is held at 0.5: (100 + 0.5*10) / 1.5 = 70
        #expect(try #require(NowCast.value([100, 10])) == 70)
    }

    /// Decision 1459's own worked examples: a PM2.5 NowCast of 20.3 gives 41 (40.6 rounded);
    /// a 24-hour PM2.5 of 55.7 gives 109.5, published as 110 (half up).
    @Test func decisionWorkedExamples() {
        #expect(VNAQI.subIndex(.pm25, 20.3) == 41)
        #expect(VNAQI.subIndex(.pm25, 55.7) == 110)
        #expect(VNAQI.roundHalfUp(109.5) == 110 && VNAQI.roundHalfUp(109.49) == 109 && VNAQI.roundHalfUp(40.5) == 41)
    }

    /// A missing hour weighs 0 and the sum is divided by the weights used: the latest hour
    /// missing does not halve the value, and w* just under 0.5 does not jump from w* just over.
    @Test func nowCastDividesByTheWeightsUsed() throws {
        // [nil, 130, 130]: w = 1, the mean of the hours present (was 65 undivided).
        #expect(try #require(NowCast.value([nil, 130, 130])) == 130)
        // w held at 0.5 with the latest hour missing: (0.5*130 + 0.25*10) / 0.75 = 90.
        #expect(try #require(NowCast.value([nil, 130, 10])) == 90)
        // [100, 49] (w = 0.5) and [100, 51] (w = 0.51) are close: 83.0 and 83.4.
        let low = try #require(NowCast.value([100, 49])), high = try #require(NowCast.value([100, 51]))
        #expect(abs(low - 83) < 1e-9 && abs(high - (100 + 0.51 * 51) / 1.51) < 1e-9 && high - low < 1)
    }

    @Test func airQualityTrackerUsesCompleteHours() throws {
        var t = AirQualityTracker()
        var readings: [(EpochMillis, Double)] = [
            (Self.at(0, 10.1), 20), (Self.at(0, 10.6), 20),   // hour 10: mean 20
            (Self.at(0, 11.5), 30),                           // hour 11: 30
            (Self.at(0, 12.2), 35), (Self.at(0, 12.9), 45),   // hour 12: 40
        ]
        readings.shuffle()
        for (time, v) in readings {
            let kept = t.record(metric: "pm25_ugm3", time: time, value: v)
            #expect(kept)
        }
        let other = t.record(metric: "temp_c", time: Self.at(0, 12), value: 3)
        #expect(!other)
        // Hour 12 is in progress: nothing to publish for it yet.
        #expect(t.takeCompleted().map(\.hour) == [Self.at(0, 11)])
        // A spike at 13:05 completes hour 12 and stays out of it.
        t.record(metric: "pm25_ugm3", time: Self.at(0, 13.08), value: 500)
        let done = t.takeCompleted()
        #expect(done.map(\.hour) == [Self.at(0, 12)])
        #expect(t.hourlyMeans(.pm25, endingAt: Self.at(0, 12), count: 3) == [40, 30, 20])
        // NowCast of 40, 30, 20 = 34.29 -> 50 + 2 * 9.29 = 68.57 -> 69; three hours are not a day.
        #expect(done.first?.hourly == 69)
        #expect(done.first?.daily == nil)
        // PM10 at 385 in hours 11 and 12: NowCast 385 -> 250, the larger sub-index wins.
        t.record(metric: "pm10_ugm3", time: Self.at(0, 12.5), value: 385)
        t.record(metric: "pm10_ugm3", time: Self.at(0, 11.5), value: 385)
        #expect(t.hourlyAQI(endingAt: Self.at(0, 12)) == 250)
        // Two hours later: hours 13 and 14 are handed out, each once.
        t.record(metric: "pm25_ugm3", time: Self.at(0, 15.1), value: 20)
        #expect(t.takeCompleted().map(\.hour) == [Self.at(0, 13), Self.at(0, 14)])
        #expect(t.takeCompleted().isEmpty)
    }

    /// The 24-hour AQI is the mean of the hourly means (not of the readings), and needs 18
    /// hours with a mean.
    @Test func dailyAQIIsTheMeanOfHourlyMeans() {
        var t = AirQualityTracker()
        // Hour 0: nine readings of 100; hours 1-17: one of 53 each. Mean of the hourly means
        // (100 + 17 * 53) / 18 = 55.61 -> 109; the mean of the readings (69.3) would give 132.
        for k in 0..<9 { t.record(metric: "pm25_ugm3", time: Self.at(1, 0.05 + Double(k) * 0.1), value: 100) }
        for h in 1..<18 { t.record(metric: "pm25_ugm3", time: Self.at(1, Double(h) + 0.5), value: 53) }
        t.record(metric: "pm25_ugm3", time: Self.at(1, 18.5), value: 1)   // completes hour 17
        #expect(t.dailyAQI(endingAt: Self.at(1, 17)) == 109)
        #expect(t.dailyAQI(endingAt: Self.at(1, 16)) == nil)   // 17 hours only
    }

    /// Article 46, region 1, case by case (`docs/domain.md` lists them): 100-200 mm after
    /// 1-2 earlier rainy days; over 200 up to 400 mm after more than 2; over 400 after more than 2.
    @Test func article46RegionOne() {
        let t = FloodRiskTable.article46(region: 1)
        func level(_ mm: Double, _ days: Int, _ s: Susceptibility) -> Int { t.level(rain24hMM: mm, earlierDays: days, susceptibility: s) }
        // Level 1: 100-200 mm after 1-2 days in low or medium areas; over 200 after > 2 days in low.
        #expect(level(100, 1, .low) == 1 && level(200, 2, .medium) == 1 && level(201, 3, .low) == 1 && level(400, 3, .low) == 1)
        // Exactly 200 mm is in the 100-200 band (not over 200): still level 1 in a low area.
        #expect(level(200, 3, .low) == 1)
        // Level 2: 100-200 after 1-2 days in high areas; over 200 after > 2 days in medium;
        // over 400 after > 2 days in low and medium.
        #expect(level(150, 1, .high) == 2 && level(250, 3, .medium) == 2 && level(401, 3, .low) == 2 && level(401, 3, .medium) == 2)
        // Level 3: very high areas from 100 mm; high and very high areas over 200 mm.
        #expect(level(100, 1, .veryHigh) == 3 && level(201, 3, .high) == 3 && level(600, 5, .veryHigh) == 3)
        // Below 100 mm, or no earlier rainy day: no level; the article has no level above 3.
        #expect(level(99, 5, .veryHigh) == 0 && level(300, 0, .veryHigh) == 0)
        #expect(t.coversEveryLevel)
    }

    /// The article's gaps never make the level fall while the rain, the earlier rainy days or
    /// the susceptibility rise (200-400 mm after only 1-2 days, for one), in every region.
    @Test func gapsNeverLowerTheLevel() {
        for region in 1...4 {
            let t = FloodRiskTable.article46(region: region)
            for s in Susceptibility.allCases {
                for days in 0...5 {
                    var previous = 0
                    for mm in stride(from: 0.0, through: 700, by: 5) {
                        let l = t.level(rain24hMM: mm, earlierDays: days, susceptibility: s)
                        #expect(l >= previous, "region \(region) \(s) \(days) days: \(mm) mm gives \(l) after \(previous)")
                        if days > 0 { #expect(l >= t.level(rain24hMM: mm, earlierDays: days - 1, susceptibility: s)) }
                        if s > .low { #expect(l >= t.level(rain24hMM: mm, earlierDays: days, susceptibility: Susceptibility.allCases[Susceptibility.allCases.firstIndex(of: s)! - 1])) }
                        previous = l
                    }
                }
            }
        }
        // 250 mm after 2 days (a gap) in region 1: at least the 100-200 mm case.
        #expect(FloodRiskTable.article46(region: 1).level(rain24hMM: 250, earlierDays: 2, susceptibility: .medium) == 1)
    }

    /// Regions 2-4: the level-1 cases of the article's first clause, as written.
    @Test func article46LevelOneOfTheOtherRegions() {
        func level(_ r: Int, _ mm: Double, _ days: Int, _ s: Susceptibility) -> Int {
            FloodRiskTable.article46(region: r).level(rain24hMM: mm, earlierDays: days, susceptibility: s)
        }
        #expect(level(2, 150, 1, .medium) == 1 && level(2, 150, 1, .low) == 0 && level(2, 250, 3, .low) == 1)
        #expect(level(3, 150, 1, .high) == 1 && level(3, 150, 1, .medium) == 0 && level(3, 250, 3, .medium) == 1)
        #expect(level(3, 401, 3, .low) == 1 && level(3, 399, 3, .low) == 0)
        #expect(level(4, 150, 2, .high) == 1 && level(4, 250, 3, .medium) == 0 && level(4, 401, 3, .medium) == 1)
        #expect((2...4).allSatisfy { !FloodRiskTable.article46(region: $0).coversEveryLevel })
    }

    @Test func rainyDaysBeforeTheWindow() {
        var d = RainyDays(rainyDayMM: 10, timeZone: Self.tz)
        // day 1: 3 mm (dry), day 2: 15, day 3: 6 + 6 = 12, day 4: 50 at 02:00
        for (day, hour, mm) in [(4, 2.0, 50.0), (1, 9.0, 3.0), (3, 8.0, 6.0), (2, 23.5, 15.0), (3, 20.0, 6.0)] {
            d.add(time: Self.at(day, hour), mm: mm)
        }
        // The window ending day 5 14:00 starts day 4 14:00: day 4's 50 mm before it counts,
        // then day 3 (12) and day 2 (15); day 1 (3) ends the count.
        #expect(d.earlierDays(before: Self.at(5, 14)) == 3)
        // Ending day 4 23:00, it starts day 3 23:00: day 3's 12 mm before, day 2's 15.
        #expect(d.earlierDays(before: Self.at(4, 23)) == 2)
        // Ending day 4 19:00, it starts day 3 19:00: day 3 has 6 mm before (short: passed
        // over, its other 6 mm are in the window), then day 2 counts.
        #expect(d.earlierDays(before: Self.at(4, 19)) == 1)
        #expect(d.earlierDays(before: Self.at(2, 10)) == 0)
    }

    /// A storm on day D after a wet D − 1: D − 1 counts during the storm, so the level-1 case
    /// (100-200 mm after 1-2 days) holds at noon on D, not only after midnight.
    @Test func aStormAfterOneWetDayGetsItsLevelDuringTheStorm() {
        var rain = RollingSum(window: 86_400_000)
        var d = RainyDays(rainyDayMM: 10, timeZone: Self.tz)
        var readings: [(EpochMillis, Double)] = [(Self.at(1, 6), 20)]                  // D − 1: 20 mm at 06:00
        readings += (0..<12).map { (Self.at(2, Double($0) + 0.5), 12.5) }              // D: 150 mm by noon
        for (t, mm) in readings {
            rain.add(Sample(time: t, value: mm))
            d.add(time: t, mm: mm)
        }
        let noon = Self.at(2, 12)
        #expect(rain.sum == 150)
        #expect(d.earlierDays(before: noon) == 1)
        #expect(FloodRiskTable.article46(region: 1).level(rain24hMM: rain.sum, earlierDays: d.earlierDays(before: noon),
                                                          susceptibility: .medium) == 1)
    }

    @Test func energyLossCompletesOnceInAnyOrder() throws {
        let feeder = EnergyLossTracker.Meter(id: "tr", intervalMillis: 900_000)        // 4 per hour
        let customers = [EnergyLossTracker.Meter(id: "c1", intervalMillis: 1_800_000),  // 2 per hour
                         EnergyLossTracker.Meter(id: "c2", intervalMillis: 1_800_000)]
        let h0: EpochMillis = 1_795_000_000_000 - 1_795_000_000_000 % 3_600_000
        var readings: [(String, EpochMillis, Double)] = [
            ("tr", h0, 25), ("tr", h0 + 900_000, 25), ("tr", h0 + 1_800_000, 25), ("tr", h0 + 2_700_000, 25),
            ("c1", h0, 20), ("c1", h0 + 1_800_000, 20), ("c2", h0 + 60_000, 25), ("c2", h0 + 1_860_000, 27),
            ("c1", h0 + 3_600_000, 99),          // next hour: does not count
            ("other", h0 + 10, 1_000),           // not this transformer's meter
        ]
        for _ in 0..<5 {
            readings.shuffle()
            var t = EnergyLossTracker(feeder: feeder, customers: customers)
            var reported: [(EpochMillis, Double?)] = []
            for (m, time, v) in readings {
                if let r = t.record(meter: m, time: time, kwh: v) { reported.append((r.hour, r.lossPct)) }
            }
            // (100 - (40 + 52)) / 100 * 100 = 8 %
            #expect(reported.count == 1)
            #expect(reported.first?.0 == h0)
            #expect(abs((reported.first?.1 ?? 0) - 8) < 1e-9)
        }
        // The feeder meter reads 0 while customers consume: a meter fault, no loss figure.
        #expect(EnergyLossTracker.lossPct(feeder: 0, customers: 5) == nil)
        #expect(EnergyLossTracker.lossPct(feeder: 0, customers: 0) == 0)
    }

    @Test func outageShareOfSilentMeters() {
        let now: EpochMillis = 1_795_000_000_000
        let meters = ["m1", "m2", "m3", "m4"].map { EnergyLossTracker.Meter(id: $0, intervalMillis: 900_000) }
        let seen: [String: EpochMillis] = ["m1": now - 600_000, "m2": now - 1_860_000, "m4": now - 300_000]
        // m2 silent for more than 2 x 15 min, m3 never heard, m4 sent a last gasp after its last reading
        #expect(Outage.silentPct(meters: meters, lastSeen: seen, lastGasp: ["m4": now - 240_000], now: now) == 75)
        #expect(Outage.silentPct(meters: meters, lastSeen: seen, lastGasp: ["m4": now - 400_000], now: now) == 50)
    }

    @Test func congestionAndFreeFlow() throws {
        #expect(abs(Congestion.index(speedKmh: 27, freeFlowKmh: 45) - 0.4) < 1e-12)
        #expect(Congestion.index(speedKmh: 50, freeFlowKmh: 45) == 0)
        #expect(abs(try #require(Congestion.travelTimeIndex(speedKmh: 27, freeFlowKmh: 45)) - 45.0 / 27) < 1e-12)
        #expect(Congestion.travelTimeIndex(speedKmh: 0, freeFlowKmh: 45) == nil)
        var f = FreeFlowEstimator(timeZone: Self.tz)
        for v in (1...100).shuffled() { f.add(time: Self.at(0, 23), speedKmh: Double(v)) }   // off-peak
        for _ in 0..<50 { f.add(time: Self.at(1, 8), speedKmh: 5) }                          // rush hour: ignored
        // nearest rank ceil(0.85 * 100) = 85
        #expect(f.freeFlowKmh == 85)
        #expect(FreeFlowEstimator(timeZone: Self.tz).freeFlowKmh == nil)
    }
}

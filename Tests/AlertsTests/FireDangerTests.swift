import Alerts
import Foundation
import Testing
import Telemetry

/// Worked by hand from docs/domain.md.
@Suite struct FireDangerTests {
    @Test func formulaByHand() {
        // E(30) = 6.1078 * exp(17.27 * 30 / 267.3) = 6.1078 * exp(1.938272) = 6.1078 * 6.94661 = 42.4284 hPa
        #expect(abs(FireDanger.saturationPressure(30) - 42.4284) < 0.001)
        // t13 = 30, RH13 = 50: d13 = 21.2142, t13 * d13 = 636.43
        #expect(abs(FireDanger.contribution(t13: 30, rh13: 50) - 636.43) < 0.01)
        // t13 = 38, RH13 = 20: E(38) = 6.1078 * exp(2.383872) = 66.2469; d13 = 52.9975; t*d = 2013.9
        #expect(abs(FireDanger.contribution(t13: 38, rh13: 20) - 2013.9) < 0.1)
    }

    @Test func levels() {
        #expect([0, 1000, 1000.4, 1001, 2500, 2501, 5000, 5001, 10000, 10001].map(FireDanger.level) == [1, 1, 2, 2, 2, 3, 3, 4, 4, 5])
    }

    /// Hanoi time (UTC+7): 13:00 local is 06:00Z.
    @Test func nearestTo13hRainResetAnyOrder() throws {
        let tz = try #require(TimeZone(identifier: "Asia/Ho_Chi_Minh"))
        let day0: EpochMillis = 1_794_934_800_000          // 2026-11-18T00:00+07:00
        let h = { (day: Int, hour: Double) in day0 + EpochMillis(day) * 86_400_000 + EpochMillis(hour * 3_600_000) }
        var readings: [(String, EpochMillis, Double)] = [
            // day 0: 30 °C / 50 % at 13:00 (11:00 and 15:30 are farther away)
            ("temp_c", h(0, 11), 25), ("temp_c", h(0, 13), 30), ("temp_c", h(0, 15.5), 33),
            ("rh_pct", h(0, 12.9), 50), ("rh_pct", h(0, 16), 20),
            // day 1: 6 mm of rain in two showers resets P, whatever the heat
            ("rain_mm", h(1, 3), 4), ("rain_mm", h(1, 20), 2), ("temp_c", h(1, 13), 38), ("rh_pct", h(1, 13), 20),
            // day 2 and 3: hot and dry
            ("temp_c", h(2, 13.2), 38), ("rh_pct", h(2, 13.2), 20), ("rain_mm", h(2, 13), 1),
            ("temp_c", h(3, 12.5), 38), ("rh_pct", h(3, 13.5), 20),
        ]
        var rng = SystemRandomNumberGenerator()
        for round in 0..<5 {
            if round > 0 { readings.shuffle(using: &rng) }
            var t = FireDangerTracker(timeZone: tz)
            for (m, time, v) in readings { t.record(metric: m, time: time, value: v) }
            #expect(t.p(on: h(0, 0)) == 636.4)   // 636.43, kept in tenths
            #expect(t.p(on: h(1, 0)) == 0)
            #expect(abs(t.p(on: h(2, 0)) - 2013.9) < 0.1)
            #expect(abs(t.p(on: h(3, 0)) - 4027.8) < 0.2)
            #expect(FireDanger.level(t.p(on: h(3, 0))) == 3)
        }
    }

    static let tz = TimeZone(identifier: "Asia/Ho_Chi_Minh")!
    static let day0: EpochMillis = 1_794_934_800_000          // 2026-11-18T00:00+07:00
    static func h(_ day: Int, _ hour: Double) -> EpochMillis { day0 + EpochMillis(day) * 86_400_000 + EpochMillis(hour * 3_600_000) }

    /// A dry spell longer than the days kept in detail keeps adding up: 200 dry days give
    /// 200 contributions, not a moving sum of the last 120.
    @Test func aDrySpellHasNoCap() {
        var t = FireDangerTracker(timeZone: Self.tz)
        for d in 0..<200 {
            t.record(metric: "temp_c", time: Self.h(d, 13), value: 30)
            t.record(metric: "rh_pct", time: Self.h(d, 13), value: 50)
        }
        let one = FireDanger.contribution(t13: 30, rh13: 50)
        // Each day's P is kept in tenths: within 0.05 a day of the exact sum.
        #expect(abs(t.p(on: Self.h(199, 0)) - 200 * one) <= 200 * 0.05, "\(t.p(on: Self.h(199, 0)) / one) days")
        // A reading for a day long folded into the base changes nothing.
        #expect(t.record(metric: "rain_mm", time: Self.h(3, 10), value: 50) == nil)
        #expect(abs(t.p(on: Self.h(199, 0)) - 200 * one) <= 200 * 0.05)
    }

    /// P is kept in tenths at the end of each day, the precision it is stored at, so a tracker
    /// seeded from the stored P (a restart) carries on exactly as one that never stopped.
    @Test func aRestartCarriesOnExactly() {
        var whole = FireDangerTracker(timeZone: Self.tz)
        for d in 0..<10 {
            whole.record(metric: "temp_c", time: Self.h(d, 13), value: 30 + Double(d) * 0.37)
            whole.record(metric: "rh_pct", time: Self.h(d, 13), value: 50 - Double(d) * 1.3)
        }
        var restarted = FireDangerTracker(timeZone: Self.tz)
        restarted.seed(p: (whole.p(on: Self.h(5, 0)) * 10).rounded() / 10, before: Self.h(6, 0))   // as stored, in tenths
        for d in 6..<10 {
            restarted.record(metric: "temp_c", time: Self.h(d, 13), value: 30 + Double(d) * 0.37)
            restarted.record(metric: "rh_pct", time: Self.h(d, 13), value: 50 - Double(d) * 1.3)
        }
        for d in 6..<10 { #expect(restarted.p(on: Self.h(d, 0)) == whole.p(on: Self.h(d, 0)), "day \(d)") }
    }

    /// Only readings within 2 h of 13:00 stand for the afternoon: a day with night readings
    /// only adds nothing; equally near readings resolve to the earlier, in any arrival order.
    @Test func theAfternoonWindowAndTies() {
        let readings: [(String, EpochMillis, Double)] = [
            // day 0: only night readings, hot and dry, ignored
            ("temp_c", Self.h(0, 2), 38), ("rh_pct", Self.h(0, 2), 20), ("temp_c", Self.h(0, 22), 38), ("rh_pct", Self.h(0, 22), 20),
            // day 1: 12:30 and 13:30 are equally near: 12:30 (30 °C / 50 %) counts
            ("temp_c", Self.h(1, 12.5), 30), ("temp_c", Self.h(1, 13.5), 38),
            ("rh_pct", Self.h(1, 13.5), 20), ("rh_pct", Self.h(1, 12.5), 50),
            // day 2: 10:59 is outside the window, 15:00 inside
            ("temp_c", Self.h(2, 10.98), 38), ("rh_pct", Self.h(2, 10.98), 20), ("temp_c", Self.h(2, 15), 30), ("rh_pct", Self.h(2, 15), 50),
        ]
        for order in [readings, readings.reversed(), readings.shuffled()] {
            var t = FireDangerTracker(timeZone: Self.tz)
            for (m, time, v) in order { t.record(metric: m, time: time, value: v) }
            let one = FireDanger.contribution(t13: 30, rh13: 50)
            #expect(t.p(on: Self.h(0, 0)) == 0)
            #expect(t.p(on: Self.h(1, 0)) == (one * 10).rounded() / 10)
            #expect(abs(t.p(on: Self.h(2, 0)) - 2 * one) <= 0.1)
        }
    }
}

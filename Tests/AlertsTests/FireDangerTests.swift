import Alerts
import Foundation
import Testing
import Telemetry

/// Worked by hand from DOMAIN.md.
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
            #expect(abs(t.p(on: h(0, 0)) - 636.43) < 0.01)
            #expect(t.p(on: h(1, 0)) == 0)
            #expect(abs(t.p(on: h(2, 0)) - 2013.9) < 0.1)
            #expect(abs(t.p(on: h(3, 0)) - 4027.8) < 0.2)
            #expect(FireDanger.level(t.p(on: h(3, 0))) == 3)
        }
    }
}

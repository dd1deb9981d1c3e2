import Foundation
import Testing
@testable import Telemetry

@Suite struct StepPlanTests {
    @Test func tierChoice() throws {
        let cases: [(String, Tier, Int64)] = [("1m", .minute, 60_000), ("5m", .minute, 300_000), ("15m", .quarterHour, 900_000),
                                              ("45m", .quarterHour, 2_700_000), ("1h", .hour, 3_600_000), ("6h", .hour, 21_600_000),
                                              ("1d", .day, 86_400_000), ("7d", .day, 604_800_000), ("2w", .day, 1_209_600_000)]
        for (text, tier, ms) in cases {
            let p = try #require(StepPlan(step: text), "\(text)")
            #expect(p.tier == tier && p.stepMillis == ms, "\(text)")
        }
        for bad in ["", "m", "90s", "0m", "-5m", "1.5h", "1y"] { #expect(StepPlan(step: bad) == nil, "\(bad)") }
    }

    @Test func bucketsAlign() throws {
        let hcm = try #require(TimeZone(identifier: "Asia/Ho_Chi_Minh"))
        let five = try #require(StepPlan(step: "5m"))
        #expect(five.bucket(1_795_000_080_000, timeZone: hcm) == 1_794_999_900_000)
        // 7d: local midnights grouped by day number since 1970-01-01 (local), 7 at a time.
        let week = try #require(StepPlan(step: "7d"))
        let midnight: EpochMillis = 1_794_934_800_000                 // 2026-11-18T00:00+07:00, day 20775
        let start = week.bucket(midnight, timeZone: hcm)
        #expect((midnight - start) % 86_400_000 == 0)
        #expect((start + 7 * 3_600_000) / 86_400_000 % 7 == 0)
        #expect(week.bucket(midnight + 86_400_000, timeZone: hcm) == start || midnight + 86_400_000 - start == 7 * 86_400_000)
    }
}

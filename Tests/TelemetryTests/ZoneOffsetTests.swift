import Foundation
import Testing
@testable import Telemetry

/// The cached offset gives the calendar's hour of day, in zones with and without daylight
/// saving, half-hour offsets and half-hour shifts, at times met in any order.
struct ZoneOffsetTests {
    @Test(arguments: ["Asia/Ho_Chi_Minh", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "Europe/London", "UTC"])
    func hoursAreTheCalendars(zone: String) {
        let tz = TimeZone(identifier: zone)!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        var offset = ZoneOffset(tz)
        var rng = SystemRandomNumberGenerator()
        let start: EpochMillis = 1_577_836_800_000   // 2020-01-01
        let span: EpochMillis = 10 * 365 * 86_400_000
        var times: [EpochMillis] = []
        // Runs forward through the hours around every transition, and random jumps.
        var t = start
        while t < start + span {
            times.append(t)
            t += EpochMillis.random(in: 1...(3 * 3_600_000), using: &rng)
        }
        for _ in 0..<2_000 { times.append(start + EpochMillis.random(in: 0..<span, using: &rng)) }
        var wrong: [String] = []
        for t in times {
            let expected = calendar.component(.hour, from: Date(timeIntervalSince1970: Double(t) / 1000))
            let got = offset.hour(t)
            if got != expected { wrong.append("\(t): \(got) instead of \(expected)") }
        }
        #expect(wrong.prefix(3) == [], "\(wrong.count) of \(times.count)")
    }
}

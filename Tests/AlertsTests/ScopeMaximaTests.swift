import Testing
import Telemetry
@testable import Alerts

/// A scope's maximum at a time is the largest of its members' values in force then (a value
/// in force from its time until the member's next one, for at most the window).
struct ScopeMaximaTests {
    /// The naive answer: every value of every member looked at.
    func oracle(_ values: [String: [Sample]], _ members: [String], at t: EpochMillis, window: EpochMillis) -> Double? {
        var best: Double?
        for m in members {
            guard let s = (values[m] ?? []).filter({ $0.time <= t }).max(by: { $0.time < $1.time }), s.time >= t - window else { continue }
            best = max(best ?? -.infinity, s.value)
        }
        return best
    }

    @Test func maximaAtManyTimesAreEachTimesMaximum() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let window: EpochMillis = 1_800_000
            var m = ScopeMaxima(window: window, keep: 100 * 3_600_000)
            var recorded: [String: [Sample]] = [:]
            let members = (0..<6).map { "st-\($0)" }
            for _ in 0..<200 {
                let member = members.randomElement(using: &rng)!
                let s = Sample(time: EpochMillis.random(in: 0..<(24 * 3_600_000), using: &rng) / 60_000 * 60_000,
                               value: Double(Int.random(in: 0..<5, using: &rng)))
                if let k = m.recordIfLoaded(member, s) {
                    #expect(k == m.samples(member)?.count)
                } else {
                    m.load(member, [])
                    m.record(member, s)
                }
                recorded[member, default: []].removeAll { $0.time == s.time }
                recorded[member, default: []].append(s)
            }
            let asked = members.shuffled(using: &rng).prefix(4).map { $0 } + ["never-seen"]
            // Half on the values' minutes (a value's own time, the window's edge), half anywhere.
            let times = (0..<40).map { k in
                let t = EpochMillis.random(in: -window..<(26 * 3_600_000), using: &rng)
                return k % 2 == 0 ? t / 60_000 * 60_000 : t
            }.sorted()
            let got = m.maxima(of: asked, at: times)
            #expect(got == times.map { m.maximum(of: asked, at: $0) })
            #expect(got == times.map { oracle(recorded, asked, at: $0, window: window) })
        }
    }

    @Test func aMemberNotLoadedIsNotRecorded() {
        var m = ScopeMaxima(window: 1_000)
        #expect(m.recordIfLoaded("a", Sample(time: 1, value: 1)) == nil)
        #expect(!m.isLoaded("a"))
        m.load("a", [Sample(time: 0, value: 3)])
        #expect(m.recordIfLoaded("a", Sample(time: 1, value: 1)) == 2)
        #expect(m.maxima(of: ["a"], at: [0, 1, 1_001, 1_002]) == [3, 1, 1, nil])
    }
}

import Testing
@testable import Telemetry

/// The new-series budget: a minute's worth at once, then refilled with time (injected).
@Suite struct NewSeriesBudgetTests {
    @Test func aBurstThenTheRate() {
        var b = NewSeriesBudget(perMinute: 600)
        var fits = b.allows(600, now: 0)
        #expect(fits)
        fits = b.allows(601, now: 0)
        #expect(!fits)
        b.spend(600, now: 0)
        fits = b.allows(1, now: 0)
        #expect(!fits)
        fits = b.allows(10, now: 1_000)             // 10 a second
        #expect(fits)
        fits = b.allows(11, now: 1_000)
        #expect(!fits)
        b.spend(10, now: 1_000)
        fits = b.allows(600, now: 61_000)
        #expect(fits)
        fits = b.allows(601, now: 3_600_000)        // never more than a minute's worth
        #expect(!fits)
        fits = b.allows(600, now: 500)              // time going back changes nothing
        #expect(fits)
    }
}

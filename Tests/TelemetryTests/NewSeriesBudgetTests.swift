import Testing
@testable import Telemetry

/// The new-series budget: a minute's worth at once, then refilled with time (injected).
@Suite struct NewSeriesBudgetTests {
    @Test func aBurstThenTheRate() {
        var b = NewSeriesBudget(perMinute: 600)
        var fits = b.allows(600, now: 0)
        #expect(fits)
        b.spend(600, now: 0)
        fits = b.allows(1, now: 0)
        #expect(!fits)
        fits = b.allows(10, now: 1_000)             // 10 a second
        #expect(fits)
        fits = b.allows(11, now: 1_000)
        #expect(!fits)
        b.spend(10, now: 1_000)
        fits = b.allows(600, now: 61_000)           // refilled, never beyond a minute's worth
        #expect(fits)
        b.spend(300, now: 61_000)
        fits = b.allows(301, now: 61_000)
        #expect(!fits)
        fits = b.allows(301, now: 500)              // time going back changes nothing
        #expect(!fits)
    }

    /// One message with more new series than a minute's worth: taken when the bucket is full,
    /// then repaid (before, it could never be accepted, and every redelivery was refused).
    @Test func aMessageLargerThanAMinutesWorthGoesIntoDebt() {
        var b = NewSeriesBudget(perMinute: 100)
        var fits = b.allows(250, now: 0)
        #expect(fits)
        b.spend(250, now: 0)
        fits = b.allows(1, now: 60_000)             // -150 + 100: still in debt
        #expect(!fits)
        fits = b.allows(1, now: 150_000)            // repaid: 0 + ... a minute and a half later
        #expect(fits)
    }
}

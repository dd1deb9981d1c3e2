import Testing
@testable import Collector
import Telemetry

/// The ingest loop's decisions as plain structs, the time passed in: when a batch is full,
/// when commits keep their rollup deltas, when the link is idle; and how derived readings
/// and their watermark ride along with commits.
@Suite struct IngestPolicyTests {
    @Test func batchPolicy() {
        let t0 = ContinuousClock.now
        var p = BatchPolicy(maxMessages: 100, now: t0)
        #expect(!p.isFull(messages: 99, readings: BatchPolicy.maxReadings - 1))
        #expect(p.isFull(messages: 100, readings: 0) && p.isFull(messages: 1, readings: BatchPolicy.maxReadings))
        // Busy: deltas kept, but handed over at least every 200 ms.
        #expect(p.keepsRollups(now: t0 + .milliseconds(199), socketBusy: true))
        #expect(!p.keepsRollups(now: t0 + .milliseconds(200), socketBusy: true))
        #expect(!p.keepsRollups(now: t0 + .milliseconds(10), socketBusy: false))
        p.handedOff(now: t0 + .milliseconds(300))
        #expect(p.keepsRollups(now: t0 + .milliseconds(400), socketBusy: true))
        // Idle a second after the last read.
        #expect(!p.isIdle(now: t0 + .milliseconds(999)) && p.isIdle(now: t0 + .seconds(1)))
        p.read(now: t0 + .seconds(1))
        #expect(!p.isIdle(now: t0 + .milliseconds(1_500)))
    }

    @Test func derivedCarry() throws {
        let name = try SeriesName(parsing: "derived-x/fire_danger")
        let r = { (t: EpochMillis) in Reading(series: name, time: t, value: 1) }
        var c = DerivedCarry()
        #expect(c.watermark == nil)
        // Nothing carried: the watermark goes at once.
        c.take([], upTo: 5)
        #expect(c.watermark == 5)
        // Readings carried but not bound: the watermark waits for them.
        c.take([r(1), r(2)], upTo: 7)
        #expect(c.watermark == nil)
        var bound = 0
        #expect(c.bindOnce { bound += $0.count; return 0 } == 0)
        #expect(bound == 2 && c.inBatch && c.watermark == 7)
        // Bound once only, whatever comes meanwhile.
        c.take([r(3)], upTo: 6)   // an older watermark never lowers it
        #expect(c.bindOnce { bound += $0.count; return 0 } == 0 && bound == 2 && c.upTo == 7)
        // A failed commit: everything waits for the next, bound again then.
        c.failed()
        #expect(!c.inBatch && c.watermark == nil && c.readings.count == 3)
        // The store drops one (its series over the limit): counted, the rest bound.
        #expect(c.bindOnce { $0.removeLast(); return 1 } == 1)
        #expect(c.readings.count == 2 && c.watermark == 7)
        c.committed()
        #expect(c.readings.isEmpty && !c.inBatch && c.watermark == 7)
        // Every reading dropped: nothing is bound, and the watermark may go.
        c.take([r(4)], upTo: 8)
        #expect(c.bindOnce { $0.removeAll(); return 1 } == 1 && !c.inBatch && c.watermark == 8)
    }
}

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
        let out = { (readings: [Reading], upTo: Int64) in DerivedOutbox(readings: readings, upTo: upTo) }
        var c = DerivedCarry()
        #expect(c.watermark == nil)
        // Nothing carried: the watermark goes at once.
        c.take(out([], 5))
        #expect(c.watermark == 5)
        // Readings carried but not bound: the watermark waits for them.
        c.take(out([r(1), r(2)], 7))
        #expect(c.watermark == nil)
        var bound = 0
        #expect(c.bindOnce { bound += $0.count; return 0 } == 0)
        #expect(bound == 2 && c.inBatch && c.watermark == 7)
        // Bound once only, whatever comes meanwhile.
        c.take(out([r(3)], 6))   // an older watermark never lowers it
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
        c.take(out([r(4)], 8))
        #expect(c.bindOnce { $0.removeAll(); return 1 } == 1 && !c.inBatch && c.watermark == 8)
        // A correction replaces the carried readings of its series from its time on, holds the
        // watermark until it is committed, and merges with a later one of the same series.
        let other = try SeriesName(parsing: "derived-y/rain_24h_mm")
        c.take(DerivedOutbox(readings: [r(10), r(20), Reading(series: other, time: 30, value: 1)], upTo: 9, generation: 4))
        c.take(DerivedOutbox(corrections: [SeriesCorrection(series: name, from: 15, samples: [Sample(time: 15, value: 2)])],
                             upTo: 10, generation: 5))
        #expect(c.readings.map(\.time) == [10, 30] && c.watermark == nil && c.generation == 5 && !c.isEmpty)
        c.take(DerivedOutbox(readings: [r(40)],
                             corrections: [SeriesCorrection(series: name, from: 18, samples: [Sample(time: 18, value: 3)])]))
        #expect(c.corrections == [SeriesCorrection(series: name, from: 15, samples: [Sample(time: 15, value: 2), Sample(time: 18, value: 3)])])
        #expect(c.readings.map(\.time) == [10, 30, 40])
        c.correctionsCommitted()
        #expect(c.watermark == nil)   // the readings still wait
        _ = c.bindOnce { _ in 0 }
        c.committed()
        #expect(c.isEmpty && c.watermark == 10)
    }

    @Test func derivedOutboxCorrectionsReplaceWaitingReadings() throws {
        let name = try SeriesName(parsing: "s/fire_danger_p")
        var o = DerivedOutbox()
        o.add([Reading(series: name, time: 5, value: 1), Reading(series: name, time: 9, value: 1)], [])
        o.add([], [SeriesCorrection(series: name, from: 7, samples: [Sample(time: 8, value: 2)])])
        o.add([Reading(series: name, time: 12, value: 3)], [SeriesCorrection(series: name, from: 3, samples: [])])
        // The reading made with the second correction is older than it in the outbox: gone too.
        #expect(o.readings.isEmpty)
        #expect(o.corrections == [SeriesCorrection(series: name, from: 3, samples: [])])
    }
}

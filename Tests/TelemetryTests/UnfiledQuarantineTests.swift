import Testing
import Telemetry

/// The quarantine records a failed file commit left in the shared store only are stored
/// there once: a redelivered batch's matching records go to the file alone.
@Suite struct UnfiledQuarantineTests {
    static func record(_ payload: String, topic: String = "telemetry/g1", at t: EpochMillis = 0) -> QuarantineRecord {
        QuarantineRecord(received: t, topic: topic, reason: "bad_json", detail: "not JSON", payload: Array(payload.utf8))
    }

    @Test func aRedeliveredBatchsRecordsAreNotStoredAgain() {
        var u = UnfiledQuarantine()
        let batch = [Self.record("x"), Self.record("y"), Self.record("x")]
        // First attempt: shared store yes, file no.
        let first = u.plan(batch, now: 1_000)
        #expect(first.fresh.count == 3)
        u.sharedOnly(first, now: 1_000)
        #expect(u.count == 3)
        // Second attempt fails the same way: nothing more goes to the shared store.
        let second = u.plan(batch.map { var r = $0; r.received = 2_000; return r }, now: 2_000)
        #expect(second.fresh.isEmpty)
        u.sharedOnly(second, now: 2_000)
        #expect(u.count == 3)
        // Redelivered in two batches with a new bad message; both stores take them.
        let third = u.plan([Self.record("x"), Self.record("z")], now: 3_000)
        #expect(third.fresh.map { String(decoding: $0.payload, as: UTF8.self) } == ["z"])
        u.bothCommitted(third, now: 3_000)
        let fourth = u.plan([Self.record("y"), Self.record("x"), Self.record("x")], now: 4_000)
        #expect(fourth.fresh.map { String(decoding: $0.payload, as: UTF8.self) } == ["x"])   // (a third "x": a new one)
        u.bothCommitted(fourth, now: 4_000)
        #expect(u.count == 0)
    }

    /// A record seen again in another failed attempt waits from then: a disk full for longer
    /// than `keepMillis` does not store it again.
    @Test func aRecordSeenAgainWaitsFromThen() {
        var u = UnfiledQuarantine(keepMillis: 60_000)
        u.sharedOnly(u.plan([Self.record("a")], now: 0), now: 0)
        let again = u.plan([Self.record("a")], now: 50_000)
        #expect(again.fresh.isEmpty)
        u.sharedOnly(again, now: 50_000)
        #expect(u.plan([Self.record("a")], now: 100_000).fresh.isEmpty)
        #expect(u.plan([Self.record("a")], now: 111_000).fresh.count == 1)
    }

    @Test func recordsNotSeenAgainAreForgotten() {
        var u = UnfiledQuarantine(keepMillis: 60_000, limit: 2)
        u.sharedOnly(u.plan([Self.record("a")], now: 0), now: 0)
        u.sharedOnly(u.plan([Self.record("b", topic: "telemetry/g2")], now: 500), now: 500)
        // Another topic is another record.
        #expect(u.plan([Self.record("b")], now: 1_000).fresh.count == 1)
        // Past keepMillis, an identical bad message is a new one.
        #expect(u.plan([Self.record("a")], now: 61_000).fresh.count == 1)
        // Beyond the limit, the oldest waiting are forgotten ("a", stored first).
        u.sharedOnly(u.plan([Self.record("c")], now: 2_000), now: 2_000)
        #expect(u.count == 2)
        #expect(u.plan([Self.record("a")], now: 2_500).fresh.count == 1)
        #expect(u.plan([Self.record("b", topic: "telemetry/g2"), Self.record("c")], now: 2_500).fresh.isEmpty)
    }
}

import Testing
@testable import Collector

/// The ingest link's state machine, with the time passed in: back-off doubling to 30 s, reset
/// by a connection, except while storage fails (then by a successful commit, or a reload).
@Suite struct BrokerLinkTests {
    static let t0 = ContinuousClock.now

    @Test func lossesBackOffAndAConnectionResets() {
        var link = BrokerLink(now: Self.t0)
        #expect(link.retryAt == Self.t0)
        link.connecting()
        link.connected()
        #expect(link.isUp)
        var waits: [Int] = []
        for _ in 0..<7 {
            let loss = link.lost(connectFailed: true, stopping: false, now: Self.t0)
            waits.append(loss?.retryInSeconds ?? -1)
        }
        #expect(waits == [1, 2, 4, 8, 16, 30, 30])
        #expect(link.retryAt == Self.t0 + .seconds(30))
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0) == nil)   // already down
        link.connected()
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0) == BrokerLink.Loss(wasUp: true, retryInSeconds: 1))
    }

    @Test func whileStorageFailsOnlyACommitResetsTheBackOff() {
        var link = BrokerLink(now: Self.t0)
        link.connected()
        link.commitFailed()
        _ = link.lost(connectFailed: false, stopping: false, now: Self.t0)   // 1 s
        link.connected()                                                    // no reset: storage is what fails
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0)?.retryInSeconds == 2)
        link.connected()
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0)?.retryInSeconds == 4)
        link.reloaded(now: Self.t0 + .seconds(1))                           // room may be back: now
        #expect(link.retryAt == Self.t0 + .seconds(1) && link.backoffSeconds == 1)
        link.connected()
        link.commitFailed()
        link.commitSucceeded()
        #expect(!link.storageFailing && link.backoffSeconds == 1)
    }

    @Test func stoppingPlansNoRetry() {
        var link = BrokerLink(now: Self.t0)
        link.connected()
        #expect(link.lost(connectFailed: false, stopping: true, now: Self.t0 + .seconds(5)) == nil)
        #expect(link.retryAt == Self.t0 + .seconds(5) && link.backoffSeconds == 1)
    }
}

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

    /// Three nodes of one cluster: a loss moves to the next node at once; only when every node
    /// has failed in turn does the back-off start, and a connection resets both.
    @Test func aClusterFailsOverAtOnceThenBacksOff() {
        var link = BrokerLink(now: Self.t0, brokers: 3)
        #expect(link.broker == 0)
        link.connecting()
        link.connected()
        var steps: [Int] = []   // (broker after the loss) * 100 + wait in seconds
        for _ in 0..<7 {
            let loss = link.lost(connectFailed: true, stopping: false, now: Self.t0)
            steps.append(link.broker * 100 + (loss?.retryInSeconds ?? -1))
        }
        // 1 and 2 at once; back to 0 after 1 s; 1 and 2 at once; 0 after 2 s; 1 at once.
        #expect(steps == [100, 200, 1, 100, 200, 2, 100])
        #expect(link.retryAt == Self.t0)
        link.connected()
        #expect(link.broker == 1)   // stays on the node that answered
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0) == BrokerLink.Loss(wasUp: true, retryInSeconds: 0))
        #expect(link.broker == 2)
    }

    /// While storage fails another node would not help: the back-off applies to every hop.
    @Test func aClusterBacksOffWhileStorageFails() {
        var link = BrokerLink(now: Self.t0, brokers: 3)
        link.connected()
        link.commitFailed()
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0)?.retryInSeconds == 1)
        #expect(link.broker == 1)
        link.connected()
        #expect(link.lost(connectFailed: false, stopping: false, now: Self.t0)?.retryInSeconds == 2)
    }
}

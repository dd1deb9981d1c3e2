import Testing
@testable import Collector

/// The partition lease as seen by one collector, with the time passed in: a holder stops
/// counting itself one at two thirds of the lease after its last answered write, so it stops
/// before the store lets anybody else create the key.
@Suite struct LeaseStateTests {
    static let t0 = ContinuousClock.now
    static let ttl = Duration.seconds(12)

    @Test func acquireRenewAndTheValidityLeft() {
        var s = LeaseState(ttl: Self.ttl)
        #expect(s.next(at: Self.t0) == .acquire)
        #expect(!s.holds(at: Self.t0))
        s.acquired(revision: 7, sentAt: Self.t0)
        #expect(s.token == 7 && s.holds(at: Self.t0))
        #expect(s.next(at: Self.t0 + .seconds(2)) == nil)                       // renew every 3 s
        #expect(s.next(at: Self.t0 + .seconds(3)) == .renew(lastRevision: 7))
        s.renewed(revision: 9, sentAt: Self.t0 + .seconds(3))
        #expect(s.token == 7)                                                    // the token is the creating write's
        #expect(s.next(at: Self.t0 + .seconds(6)) == .renew(lastRevision: 9))
        #expect(s.holds(at: Self.t0 + .milliseconds(10_999)))                    // 3 s + 8 s
        #expect(!s.holds(at: Self.t0 + .seconds(11)))
    }

    /// Renewals that get no answer: retried soon, and the validity runs out at 8 s after the
    /// last answered write, 4 s before the store can expire the key (12 s after it).
    @Test func unansweredRenewalsLapse() {
        var s = LeaseState(ttl: Self.ttl)
        s.acquired(revision: 1, sentAt: Self.t0)
        #expect(s.next(at: Self.t0 + .seconds(3)) == .renew(lastRevision: 1))
        s.renewFailed(at: Self.t0 + .seconds(3))
        #expect(s.next(at: Self.t0 + .milliseconds(3_500)) == nil)
        #expect(s.next(at: Self.t0 + .milliseconds(3_600)) == .renew(lastRevision: 1))   // ttl / 20 later
        #expect(s.holds(at: Self.t0 + .milliseconds(7_999)))
        #expect(s.next(at: Self.t0 + .seconds(8)) == .acquire)                   // lapsed: standby, try to create again
        #expect(!s.holds(at: Self.t0 + .seconds(8)) && s.token == nil)
    }

    @Test func aRefusedRenewalLosesAtOnce() {
        var s = LeaseState(ttl: Self.ttl)
        s.acquired(revision: 4, sentAt: Self.t0)
        s.lost()
        #expect(!s.holds(at: Self.t0 + .seconds(1)) && s.token == nil)
        #expect(s.next(at: Self.t0 + .seconds(1)) == .acquire)
        s.renewed(revision: 5, sentAt: Self.t0 + .seconds(1))                   // a late answer changes nothing
        #expect(!s.holds(at: Self.t0 + .seconds(1)))
    }

    /// A late answer to an earlier renewal never shortens the validity.
    @Test func validityNeverShrinks() {
        var s = LeaseState(ttl: Self.ttl)
        s.acquired(revision: 1, sentAt: Self.t0 + .seconds(5))
        s.renewed(revision: 2, sentAt: Self.t0)
        #expect(s.holds(at: Self.t0 + .milliseconds(12_999)))
    }
}

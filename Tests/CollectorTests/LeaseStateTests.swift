import Testing
@testable import Collector

/// The partition lease as seen by one collector, with the time passed in: a holder stops
/// counting itself one at two thirds of the lease after its last answered write, so it stops
/// before the store lets anybody else create the key.
@Suite struct LeaseStateTests {
    static let t0 = ContinuousClock.now
    static let ttl = Duration.seconds(12)

    /// A lease created at t0 and confirmed with revision `created + 1` at `confirmedAt`.
    static func held(created: UInt64, confirmedAt: ContinuousClock.Instant) -> LeaseState {
        var s = LeaseState(ttl: ttl)
        _ = s.next(at: t0)
        s.created(revision: created, at: t0)
        s.confirmed(revision: created + 1, sentAt: confirmedAt)
        return s
    }

    /// A create is held only once a later write conditional on it succeeds (nats-server < 2.9.21
    /// could let two racing creates both through).
    @Test func aCreateIsConfirmedBeforeItIsHeld() {
        var s = LeaseState(ttl: Self.ttl)
        #expect(s.next(at: Self.t0) == .acquire)
        s.created(revision: 7, at: Self.t0)
        #expect(!s.holds(at: Self.t0) && s.token == nil)
        #expect(s.next(at: Self.t0 + .milliseconds(499)) == nil)                 // min(ttl / 10, 500 ms) later
        #expect(s.next(at: Self.t0 + .milliseconds(500)) == .confirm(createdRevision: 7))
        s.confirmed(revision: 8, sentAt: Self.t0 + .milliseconds(500))
        #expect(s.token == 7 && s.holds(at: Self.t0 + .milliseconds(500)))
        // The other racer: its confirmation is refused, and it holds nothing.
        var other = LeaseState(ttl: Self.ttl)
        other.created(revision: 6, at: Self.t0)
        other.lost()
        #expect(other.token == nil && other.next(at: Self.t0 + .seconds(1)) == .acquire)
        // An unanswered confirmation starts over.
        var third = LeaseState(ttl: Self.ttl)
        third.created(revision: 9, at: Self.t0)
        third.renewFailed(at: Self.t0 + .seconds(1))
        #expect(third.phase == .standby)
    }

    @Test func acquireRenewAndTheValidityLeft() {
        var s = Self.held(created: 7, confirmedAt: Self.t0)
        #expect(s.token == 7 && s.holds(at: Self.t0))
        #expect(s.next(at: Self.t0 + .seconds(2)) == nil)                       // renew every 3 s
        #expect(s.next(at: Self.t0 + .seconds(3)) == .renew(lastRevision: 8))
        s.renewed(revision: 9, sentAt: Self.t0 + .seconds(3))
        #expect(s.token == 7)                                                    // the token is the creating write's
        #expect(s.next(at: Self.t0 + .seconds(6)) == .renew(lastRevision: 9))
        #expect(s.holds(at: Self.t0 + .milliseconds(10_999)))                    // 3 s + 8 s
        #expect(!s.holds(at: Self.t0 + .seconds(11)))
    }

    /// Renewals that get no answer: retried soon, and the validity runs out at 8 s after the
    /// last answered write, 4 s before the store can expire the key (12 s after it).
    @Test func unansweredRenewalsLapse() {
        var s = Self.held(created: 1, confirmedAt: Self.t0)
        #expect(s.next(at: Self.t0 + .seconds(3)) == .renew(lastRevision: 2))
        s.renewFailed(at: Self.t0 + .seconds(3))
        #expect(s.next(at: Self.t0 + .milliseconds(3_500)) == nil)
        #expect(s.next(at: Self.t0 + .milliseconds(3_600)) == .renew(lastRevision: 2))   // ttl / 20 later
        #expect(s.holds(at: Self.t0 + .milliseconds(7_999)))
        #expect(s.next(at: Self.t0 + .seconds(8)) == .acquire)                   // lapsed: standby, try to create again
        #expect(!s.holds(at: Self.t0 + .seconds(8)) && s.token == nil)
    }

    @Test func aRefusedRenewalLosesAtOnce() {
        var s = Self.held(created: 4, confirmedAt: Self.t0)
        s.lost()
        #expect(!s.holds(at: Self.t0 + .seconds(1)) && s.token == nil)
        #expect(s.next(at: Self.t0 + .seconds(1)) == .acquire)
        s.renewed(revision: 5, sentAt: Self.t0 + .seconds(1))                   // a late answer changes nothing
        #expect(!s.holds(at: Self.t0 + .seconds(1)))
    }

    /// A late answer to an earlier renewal never shortens the validity.
    @Test func validityNeverShrinks() {
        var s = Self.held(created: 1, confirmedAt: Self.t0 + .seconds(5))
        s.renewed(revision: 3, sentAt: Self.t0)
        #expect(s.holds(at: Self.t0 + .milliseconds(12_999)))
    }
}

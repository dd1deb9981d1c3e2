import Testing
@testable import Collector

/// The partition lease as seen by one collector, with the time passed in: a holder stops
/// counting itself one at two thirds of the lease after its last answered write; a standby
/// takes a held key only after seeing it unchanged for a whole lease on its own clock, so it
/// never writes while the holder still counts itself one.
@Suite struct LeaseStateTests {
    static let t0 = ContinuousClock.now
    static let ttl = Duration.seconds(12)

    /// A lease created at t0 and confirmed with revision `created + 1` at `confirmedAt`.
    static func held(created: UInt64, confirmedAt: ContinuousClock.Instant) -> LeaseState {
        var s = LeaseState(ttl: ttl)
        #expect(s.next(at: t0) == .look)
        #expect(s.observed(.absent, at: t0) == .create)
        s.created(revision: created, at: t0)
        s.confirmed(revision: created + 1, sentAt: confirmedAt)
        return s
    }

    /// A create is held only once a later write conditional on it succeeds (nats-server < 2.9.21
    /// could let two racing conditional writes both through).
    @Test func aCreateIsConfirmedBeforeItIsHeld() {
        var s = LeaseState(ttl: Self.ttl)
        #expect(s.next(at: Self.t0) == .look)
        #expect(s.observed(.absent, at: Self.t0) == .create)
        s.created(revision: 7, at: Self.t0)
        #expect(!s.holds(at: Self.t0) && s.token == nil)
        #expect(s.next(at: Self.t0 + .milliseconds(499)) == nil)                 // min(ttl / 10, 500 ms) later
        #expect(s.next(at: Self.t0 + .milliseconds(500)) == .confirm(createdRevision: 7))
        s.confirmed(revision: 8, sentAt: Self.t0 + .milliseconds(500))
        #expect(s.token == 7 && s.holds(at: Self.t0 + .milliseconds(500)))
        #expect(s.observed(.absent, at: Self.t0 + .seconds(1)) == nil)          // a holder does not take
        // The other racer: its confirmation is refused, and it holds nothing.
        var other = LeaseState(ttl: Self.ttl)
        other.created(revision: 6, at: Self.t0)
        other.lost()
        #expect(other.token == nil && other.next(at: Self.t0 + .seconds(1)) == .look)
        // An unanswered confirmation starts over, having seen nothing.
        var third = LeaseState(ttl: Self.ttl)
        third.created(revision: 9, at: Self.t0)
        third.renewFailed(at: Self.t0 + .seconds(1))
        #expect(third.phase == .standby(seen: nil))
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
    /// last answered write, 4 s before a standby may take the key (12 s after it appeared).
    @Test func unansweredRenewalsLapse() {
        var s = Self.held(created: 1, confirmedAt: Self.t0)
        #expect(s.next(at: Self.t0 + .seconds(3)) == .renew(lastRevision: 2))
        s.renewFailed(at: Self.t0 + .seconds(3))
        #expect(s.next(at: Self.t0 + .milliseconds(3_500)) == nil)
        #expect(s.next(at: Self.t0 + .milliseconds(3_600)) == .renew(lastRevision: 2))   // ttl / 20 later
        #expect(s.holds(at: Self.t0 + .milliseconds(7_999)))
        #expect(s.next(at: Self.t0 + .seconds(8)) == .look)                      // lapsed: a standby like any other
        #expect(!s.holds(at: Self.t0 + .seconds(8)) && s.token == nil)
        // Its own key, unchanged, is waited out like anybody's.
        #expect(s.observed(.held(revision: 2, lease: nil), at: Self.t0 + .seconds(8)) == nil)
        #expect(s.observed(.held(revision: 2, lease: nil), at: Self.t0 + .milliseconds(19_999)) == nil)
        #expect(s.observed(.held(revision: 2, lease: nil), at: Self.t0 + .seconds(20)) == .take(last: 2))
    }

    @Test func aRefusedRenewalLosesAtOnce() {
        var s = Self.held(created: 4, confirmedAt: Self.t0)
        s.lost()
        #expect(!s.holds(at: Self.t0 + .seconds(1)) && s.token == nil)
        #expect(s.next(at: Self.t0 + .seconds(1)) == .look)
        s.renewed(revision: 5, sentAt: Self.t0 + .seconds(1))                   // a late answer changes nothing
        #expect(!s.holds(at: Self.t0 + .seconds(1)))
    }

    /// A late answer to an earlier renewal never shortens the validity.
    @Test func validityNeverShrinks() {
        var s = Self.held(created: 1, confirmedAt: Self.t0 + .seconds(5))
        s.renewed(revision: 3, sentAt: Self.t0)
        #expect(s.holds(at: Self.t0 + .milliseconds(12_999)))
    }

    /// A standby takes a held key only once the same revision stood a whole lease from the read
    /// that first showed it; every new revision starts the wait again. A released key, or one
    /// never written, is taken at once.
    @Test func aStandbyWaitsOutAnUnchangedKey() {
        var s = LeaseState(ttl: Self.ttl)
        #expect(s.next(at: Self.t0) == .look)
        #expect(s.observed(.held(revision: 10, lease: Self.ttl), at: Self.t0) == nil)
        #expect(s.observed(.held(revision: 10, lease: Self.ttl), at: Self.t0 + .seconds(3)) == nil)
        // The holder renewed: the wait starts again from the read that showed it.
        #expect(s.observed(.held(revision: 11, lease: Self.ttl), at: Self.t0 + .seconds(4)) == nil)
        #expect(s.observed(.held(revision: 11, lease: Self.ttl), at: Self.t0 + .milliseconds(15_999)) == nil)
        #expect(s.observed(.held(revision: 11, lease: Self.ttl), at: Self.t0 + .seconds(16)) == .take(last: 11))
        // The take was refused (somebody wrote first): the next read decides afresh.
        #expect(s.observed(.held(revision: 12, lease: nil), at: Self.t0 + .seconds(17)) == nil)
        #expect(s.observed(.released(revision: 13), at: Self.t0 + .seconds(18)) == .take(last: 13))
        #expect(s.observed(.absent, at: Self.t0 + .seconds(18)) == .create)
        // The holder that renewed revision 11 counts itself one until 2/3 of a lease after it
        // sent it (before the read at 4 s showed it): at most 4 s + 8 s, before the take at 16 s.
        let holder = Self.held(created: 9, confirmedAt: Self.t0 + .seconds(4))
        #expect(!holder.holds(at: Self.t0 + .seconds(12)))
    }

    /// A confirmation refused because the store lost our acknowledged write (a stream resetting
    /// its state): every third in a row asks for the stream leader's step-down; a confirmed
    /// lease starts the count again.
    @Test func lostWritesInARowAskForAStepDown() {
        var s = LeaseState(ttl: Self.ttl)
        var asks: [Bool] = []
        for i in 0..<6 {
            #expect(s.observed(.absent, at: Self.t0) == .create)
            s.created(revision: UInt64(10 + i), at: Self.t0)
            asks.append(s.vanished())
            #expect(s.phase == .standby(seen: nil) && s.token == nil)
        }
        #expect(asks == [false, false, true, false, false, true])
        // A refusal because another collector wrote starts the count again.
        for i in 0..<2 {
            s.created(revision: UInt64(30 + i), at: Self.t0)
            _ = s.vanished()
        }
        s.lost()
        s.created(revision: 40, at: Self.t0)
        let afterRace = s.vanished()
        #expect(!afterRace && s.lostWrites == 1)
        _ = s.observed(.absent, at: Self.t0)
        s.created(revision: 20, at: Self.t0)
        s.confirmed(revision: 21, sentAt: Self.t0)
        #expect(s.lostWrites == 0)
        s.lost()
        _ = s.observed(.absent, at: Self.t0)
        s.created(revision: 22, at: Self.t0)
        let ask = s.vanished()
        #expect(!ask)
    }

    /// A holder given a longer lease than ours (a mistake in the configuration) is waited out
    /// by its own length, written in the key; a shorter one by ours.
    @Test func aLongerLeaseOfTheHolderIsWaitedOut() {
        var s = LeaseState(ttl: Self.ttl)
        #expect(s.observed(.held(revision: 5, lease: .seconds(60)), at: Self.t0) == nil)
        #expect(s.observed(.held(revision: 5, lease: .seconds(60)), at: Self.t0 + .seconds(59)) == nil)
        #expect(s.observed(.held(revision: 5, lease: .seconds(60)), at: Self.t0 + .seconds(60)) == .take(last: 5))
        var t = LeaseState(ttl: Self.ttl)
        #expect(t.observed(.held(revision: 5, lease: .seconds(3)), at: Self.t0) == nil)
        #expect(t.observed(.held(revision: 5, lease: .seconds(3)), at: Self.t0 + .seconds(11)) == nil)
        #expect(t.observed(.held(revision: 5, lease: .seconds(3)), at: Self.t0 + .seconds(12)) == .take(last: 5))
    }

    /// The key's value: the holder's name and lease, as JSON; a plain name (earlier versions)
    /// has no length; names with quotes and slashes survive.
    @Test func theKeysValueRoundTrips() {
        let v = LeaseValue(member: "north/collector \"a\"", lease: .milliseconds(6_500), run: "9f3a")
        #expect(v.text == #"{"member":"north/collector \"a\"","lease_ms":6500,"run":"9f3a"}"#)
        #expect(LeaseValue(parsing: v.text) == v)
        #expect(LeaseValue(parsing: #"{"member":"b","lease_ms":1000}"#) == LeaseValue(member: "b", lease: .seconds(1)))
        #expect(LeaseValue(parsing: "collector-a") == LeaseValue(member: "collector-a", lease: nil))
        #expect(LeaseValue(parsing: #"{"member":"b"}"#) == LeaseValue(member: "b", lease: nil))
        #expect(LeaseValue(parsing: "{not json") == LeaseValue(member: "{not json", lease: nil))
    }

    /// A write of ours whose answer was lost is found when the key is read back: a renewal
    /// refused for it carries on from it (without more validity), a standby (or a lapsed
    /// holder) that finds the key's latest write to be its own confirms it at once.
    @Test func aWriteOfOursWhoseAnswerWasLostIsCarriedOn() {
        var s = Self.held(created: 4, confirmedAt: Self.t0)
        #expect(s.next(at: Self.t0 + .seconds(3)) == .renew(lastRevision: 5))
        // The renewal landed as 6, unanswered; the next, on 5, was refused; the key reads 6, ours.
        let carried = s.foundOurs(revision: 6, at: Self.t0 + .seconds(4))
        #expect(carried)
        #expect(s.token == 4 && s.next(at: Self.t0 + .seconds(4)) == .renew(lastRevision: 6))
        #expect(!s.holds(at: Self.t0 + .seconds(8)))                             // the lost answer extended nothing
        let again = s.foundOurs(revision: 6, at: Self.t0 + .seconds(4))
        #expect(!again)                                                          // nothing later than what we have
        // A standby whose last write stands as the key's latest confirms it without waiting a lease.
        var t = LeaseState(ttl: Self.ttl)
        #expect(t.observed(.ours(revision: 9), at: Self.t0) == nil)
        #expect(t.next(at: Self.t0 + .milliseconds(500)) == .confirm(createdRevision: 9))
        t.confirmed(revision: 10, sentAt: Self.t0 + .milliseconds(500))
        #expect(t.token == 9)
        // A confirmation refused because an earlier one of ours landed: confirm that one afresh.
        var u = LeaseState(ttl: Self.ttl)
        u.created(revision: 3, at: Self.t0)
        let earlier = u.foundOurs(revision: 4, at: Self.t0 + .seconds(1))
        #expect(earlier)
        #expect(u.next(at: Self.t0 + .seconds(1)) == .confirm(createdRevision: 4))
    }
}

/// One collector's view of a partition lease, as a plain struct (the time is passed in).
///
/// The lease is a key in a replicated key-value store whose entries never expire by
/// themselves: a store's own expiry runs on each replica's clock and, in NATS 2.9's replicated
/// buckets, was seen to stall the buckets (see the README). Instead, time is measured by the
/// collectors, each on its own monotonic clock:
///
/// - The holder rewrites the key every `ttl / 4`, each write conditional on the revision it
///   last wrote. It counts itself the holder only until `ttl * 2 / 3` after it *sent* its last
///   answered write. A store call gives up after `ttl / 5` (`PartitionLease`), so no write
///   answered late can stretch that: a renewal sent before the holder's validity ended was
///   answered, or not counted, before the standby below may take the key.
/// - A standby reads the key. A key nobody ever wrote is created; a key its holder released
///   (an empty value) is taken at once; a key whose latest write is this process's own is
///   confirmed at once (nobody wrote after it); any other key is taken only once the standby
///   has seen the same revision for a whole `ttl` on its own clock (or the holder's lease,
///   written in the key, when longer), with a write conditional on that revision. The
///   revision appeared after its holder sent it, so the holder stopped counting itself one at
///   least `ttl / 3` before; and a renewal that lands first changes the revision, so the take
///   is refused.
///
/// The revision of the creating (or taking) write is the fencing token: the store's sequence
/// grows with every write, so a store shared by several collectors can refuse a commit that
/// carries an older one.
///
/// A create or take is not enough on its own: NATS servers before 2.9.21 checked the expected
/// revision before replication, not in it, so two conditional writes in flight together could
/// both succeed (nats-server issue 4320). So a written key is held only after a second,
/// confirming write conditional on it, sent `confirmDelay` later: of two racing writers, the
/// one whose write the store applied first finds its revision replaced and stays out.
struct LeaseState: Equatable {
    /// A revision a standby has seen, and since when (when the read that first showed it was answered).
    struct Seen: Equatable {
        let revision: UInt64
        let since: ContinuousClock.Instant
    }

    enum Phase: Equatable {
        /// Not holding: read the key, and take it when it is free or its holder fell silent.
        case standby(seen: Seen?)
        /// Our create or take succeeded with `revision`; not holding until it is confirmed.
        case created(revision: UInt64, confirmAt: ContinuousClock.Instant)
        /// Holding: `revision` is our last write, `token` our creating write.
        case holding(revision: UInt64, token: UInt64, validUntil: ContinuousClock.Instant, renewAt: ContinuousClock.Instant)
    }

    enum Action: Equatable {
        /// Read the key, and pass what it holds to `observed(_:at:)`.
        case look
        case confirm(createdRevision: UInt64)
        case renew(lastRevision: UInt64)
    }

    /// What a standby's read of the key found.
    enum Observed: Equatable {
        /// Nothing was ever written under the key (or the store lost it).
        case absent
        /// Its holder emptied it when it stopped.
        case released(revision: UInt64)
        /// Somebody's lease, last written at `revision`, by a holder given `lease` (nil: unknown).
        case held(revision: UInt64, lease: Duration?)
        /// Our own write (this process's value), the key's latest at `revision`: one whose
        /// answer was lost, or our lapsed lease that nobody took.
        case ours(revision: UInt64)
    }

    /// The write a standby makes to take the lease.
    enum Move: Equatable {
        /// A write that succeeds only while the key holds nothing.
        case create
        /// A write that succeeds only while the key's latest revision is `last`.
        case take(last: UInt64)
    }

    let ttl: Duration
    private(set) var phase: Phase = .standby(seen: nil)
    /// Our acknowledged writes the store lost in a row (`vanished()`; a confirmed lease, or a
    /// write refused because another collector wrote, starts the count again).
    private(set) var lostWrites = 0

    /// How many lost writes in a row make the bucket's stream leader step down.
    static let lostWritesBeforeStepDown = 3

    init(ttl: Duration) { self.ttl = ttl }

    var validity: Duration { ttl * 2 / 3 }
    var renewEvery: Duration { ttl / 4 }
    /// How long after a create its confirmation is sent (long enough for any write in flight
    /// with ours to have been applied).
    var confirmDelay: Duration { min(ttl / 10, .milliseconds(500)) }

    /// Whether we hold the lease at `now` (and may commit what the partition's session sends).
    func holds(at now: ContinuousClock.Instant) -> Bool {
        if case .holding(_, _, let until, _) = phase { return now < until }
        return false
    }

    /// The fencing token while holding.
    var token: UInt64? {
        if case .holding(_, let token, _, _) = phase { return token }
        return nil
    }

    /// What to do at `now`: nil until the next renewal is due. A lease whose validity ran out
    /// (renewals kept failing) is dropped here, and acquired afresh like any other: after a
    /// whole lease of its key unchanged, like anybody's.
    mutating func next(at now: ContinuousClock.Instant) -> Action? {
        switch phase {
        case .standby:
            return .look
        case .created(let revision, let confirmAt):
            return now >= confirmAt ? .confirm(createdRevision: revision) : nil
        case .holding(let revision, _, let until, let renewAt):
            if now >= until {
                phase = .standby(seen: nil)
                return .look
            }
            return now >= renewAt ? .renew(lastRevision: revision) : nil
        }
    }

    /// A standby's read of the key, answered at `now`: the write that takes the lease, or nil
    /// to look again later.
    mutating func observed(_ key: Observed, at now: ContinuousClock.Instant) -> Move? {
        guard case .standby(let seen) = phase else { return nil }
        switch key {
        case .absent:
            phase = .standby(seen: nil)
            return .create
        case .released(let revision):
            return .take(last: revision)
        case .ours(let revision):
            // Nobody wrote after it: confirm it as if its create had been answered.
            phase = .created(revision: revision, confirmAt: now + confirmDelay)
            return nil
        case .held(let revision, let lease):
            if let seen, seen.revision == revision {
                // The holder times its validity by its own lease: wait out the longer.
                return now - seen.since >= max(ttl, lease ?? ttl) ? .take(last: revision) : nil
            }
            phase = .standby(seen: Seen(revision: revision, since: now))
            return nil
        }
    }

    /// Our create or take, answered at `now`, succeeded with `revision`: confirm it
    /// `confirmDelay` later.
    mutating func created(revision: UInt64, at now: ContinuousClock.Instant) {
        phase = .created(revision: revision, confirmAt: now + confirmDelay)
    }

    /// Our confirming write, sent at `sentAt`, succeeded with `revision`: we hold the lease,
    /// with the created revision as the fencing token.
    mutating func confirmed(revision: UInt64, sentAt: ContinuousClock.Instant) {
        guard case .created(let token, _) = phase else { return }
        lostWrites = 0
        phase = .holding(revision: revision, token: token, validUntil: sentAt + validity, renewAt: sentAt + renewEvery)
    }

    /// Our rewrite, sent at `sentAt`, succeeded with `revision`.
    mutating func renewed(revision: UInt64, sentAt: ContinuousClock.Instant) {
        guard case .holding(_, let token, let until, _) = phase else { return }
        phase = .holding(revision: revision, token: token, validUntil: max(until, sentAt + validity), renewAt: sentAt + renewEvery)
    }

    /// A rewrite failed without an answer (timeout, no connection): try again soon; the
    /// validity runs on. An unanswered confirmation starts over, as a standby that has seen
    /// nothing yet (our unconfirmed write may stand in the store: it is waited out like anybody's).
    mutating func renewFailed(at now: ContinuousClock.Instant) {
        switch phase {
        case .holding(let revision, let token, let until, _):
            phase = .holding(revision: revision, token: token, validUntil: until, renewAt: now + ttl / 20)
        case .created:
            phase = .standby(seen: nil)
        case .standby:
            break
        }
    }

    /// A write conditional on our last revision was refused, and the key, read back, holds our
    /// own value at a later `revision`: an earlier write of ours landed and its answer was
    /// lost. A holder carries on from it (renewing now; the unanswered write extends nothing);
    /// a creator confirms it afresh. False when there is nothing to carry on.
    mutating func foundOurs(revision: UInt64, at now: ContinuousClock.Instant) -> Bool {
        switch phase {
        case .holding(let last, let token, let until, _) where revision > last:
            phase = .holding(revision: revision, token: token, validUntil: until, renewAt: now)
            return true
        case .created(let created, _) where revision > created:
            phase = .created(revision: revision, confirmAt: now)
            return true
        default:
            return false
        }
    }

    /// The store answered that the key is not ours (another holder wrote it): we hold nothing
    /// from now on.
    mutating func lost() {
        phase = .standby(seen: nil)
        lostWrites = 0
    }

    /// Our confirmation or renewal was refused and the key, read back, holds nothing or an
    /// older revision than the store acknowledged to us: the store lost an acknowledged write, which happens
    /// when a JetStream stream resets its replicated state (NATS 2.9 was seen to do so in a
    /// loop). True on every `lostWritesBeforeStepDown`-th in a row: time to make the stream's
    /// leader step down, as a new leader starts from its replicas' agreed state.
    mutating func vanished() -> Bool {
        phase = .standby(seen: nil)
        lostWrites += 1
        return lostWrites % Self.lostWritesBeforeStepDown == 0
    }
}

/// One collector's view of a partition lease, as a plain struct (the time is passed in).
///
/// The lease is a key in a replicated key-value store whose entries expire `ttl` after they
/// were written. A collector creates the key (only possible while nobody holds it) and
/// rewrites it every `ttl / 4`, each write conditional on the revision it last wrote. It
/// counts itself the holder only until `ttl * 2 / 3` after it *sent* its last successful
/// write: the store keeps the key at least `ttl` after that instant, so the holder stops
/// writing at least `ttl / 3` before anybody else can create the key, whatever the network
/// did to the answer. The revision of the creating write is the fencing token: it grows with
/// every new holder, so a store shared by several collectors can refuse a commit that carries
/// an older one.
///
/// A create is not enough on its own: NATS servers before 2.9.21 checked the expected revision
/// before replication, not in it, so two creates in flight together could both succeed
/// (nats-server issue 4320). So a created key is held only after a second, confirming write
/// conditional on the created revision, sent `confirmDelay` later: of two racing creators,
/// the one whose write the store applied first finds its revision replaced and stays out.
struct LeaseState: Equatable {
    enum Phase: Equatable {
        /// Not holding; try to create the key.
        case standby
        /// Our create succeeded with `revision`; not holding until it is confirmed.
        case created(revision: UInt64, confirmAt: ContinuousClock.Instant)
        /// Holding: `revision` is our last write, `token` our creating write.
        case holding(revision: UInt64, token: UInt64, validUntil: ContinuousClock.Instant, renewAt: ContinuousClock.Instant)
    }

    enum Action: Equatable {
        case acquire
        case confirm(createdRevision: UInt64)
        case renew(lastRevision: UInt64)
    }

    let ttl: Duration
    private(set) var phase: Phase = .standby

    init(ttl: Duration) { self.ttl = ttl }

    var validity: Duration { ttl * 2 / 3 }
    var renewEvery: Duration { ttl / 4 }
    /// How long after a create its confirmation is sent (long enough for any create in flight
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
    /// (renewals kept failing) is dropped here, and acquired afresh like any other.
    mutating func next(at now: ContinuousClock.Instant) -> Action? {
        switch phase {
        case .standby:
            return .acquire
        case .created(let revision, let confirmAt):
            return now >= confirmAt ? .confirm(createdRevision: revision) : nil
        case .holding(let revision, _, let until, let renewAt):
            if now >= until {
                phase = .standby
                return .acquire
            }
            return now >= renewAt ? .renew(lastRevision: revision) : nil
        }
    }

    /// Our create, answered at `now`, succeeded with `revision`: confirm it `confirmDelay` later.
    mutating func created(revision: UInt64, at now: ContinuousClock.Instant) {
        phase = .created(revision: revision, confirmAt: now + confirmDelay)
    }

    /// Our confirming write, sent at `sentAt`, succeeded with `revision`: we hold the lease,
    /// with the created revision as the fencing token.
    mutating func confirmed(revision: UInt64, sentAt: ContinuousClock.Instant) {
        guard case .created(let token, _) = phase else { return }
        phase = .holding(revision: revision, token: token, validUntil: sentAt + validity, renewAt: sentAt + renewEvery)
    }

    /// Our rewrite, sent at `sentAt`, succeeded with `revision`.
    mutating func renewed(revision: UInt64, sentAt: ContinuousClock.Instant) {
        guard case .holding(_, let token, let until, _) = phase else { return }
        phase = .holding(revision: revision, token: token, validUntil: max(until, sentAt + validity), renewAt: sentAt + renewEvery)
    }

    /// A rewrite failed without an answer (timeout, no connection): try again soon; the
    /// validity runs on. An unanswered confirmation starts over (the created key expires).
    mutating func renewFailed(at now: ContinuousClock.Instant) {
        switch phase {
        case .holding(let revision, let token, let until, _):
            phase = .holding(revision: revision, token: token, validUntil: until, renewAt: now + ttl / 20)
        case .created:
            phase = .standby
        case .standby:
            break
        }
    }

    /// The store answered that the key is not ours (another holder wrote it, or it expired):
    /// we hold nothing from now on.
    mutating func lost() { phase = .standby }
}

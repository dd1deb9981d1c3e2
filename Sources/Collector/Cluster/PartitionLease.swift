import Foundation
import Logging
import Prometheus
import Synchronization
import Telemetry

/// Keeps this collector's lease on its partition (`LeaseState`, in a NATS key-value bucket
/// through `NATSKeyValue`) on a thread of its own: takes the key when nobody holds it, or when
/// its holder left it unchanged for a whole lease; rewrites it every quarter of the lease
/// while holding, and drops it when a rewrite is refused or its validity ran out. The ingest
/// loop asks `holds(at:)` before connecting and before every commit of the partition's
/// messages.
///
/// The same lease, named `province` (`PartitionLease.province(of:)`), picks the one collector
/// of a shared store that computes the province-wide indicators.
final class PartitionLease: Sendable {
    private let config: CollectorConfig.PartitionConfig
    /// What the lease is for, in log messages: "partition lease" or "province lease".
    private let what: String
    /// What the holder does, in the message that says it gained the lease.
    private let duty: String
    private let logger: Logger
    private let state: Mutex<LeaseState>
    /// Who held the key when we last read it.
    private let lastHolder = Mutex<String?>(nil)
    /// Whether we said that the holder's lease length differs from ours.
    private let warnedLease = Atomic<Bool>(false)
    /// This collector's lease length.
    private let ttl: Duration
    /// What this collector writes under the key while it holds it.
    private let value: String
    /// This collector's run of the lease (its member name and run number), which a shared
    /// store's fence records beside the token.
    let holder: String
    private let stopRequested = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let releaseOnStop = Atomic<Bool>(false)
    /// Called on the lease's thread when we gain or lose the lease.
    private let onChange: @Sendable () -> Void

    /// Its Prometheus series (nil: none).
    private let metrics: LeaseMetrics?

    init(config: CollectorConfig.PartitionConfig, what: String = "partition lease", duty: String = "ingesting", logger: Logger,
         registry: PrometheusCollectorRegistry? = nil, onChange: @escaping @Sendable () -> Void) {
        self.config = config
        metrics = registry.map {
            LeaseMetrics(registry: $0, lease: config.name == Self.provinceName ? "province" : "partition", partition: config.name)
        }
        self.what = what
        self.duty = duty
        self.logger = logger
        self.onChange = onChange
        ttl = .milliseconds(config.leaseMillis)
        let run = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        holder = config.member + " " + run
        value = LeaseValue(member: config.member, lease: .milliseconds(config.leaseMillis), run: run).text
        state = Mutex(LeaseState(ttl: .milliseconds(config.leaseMillis)))
    }

    /// The province lease's key (and its fence's name in the shared store): no partition may take it.
    static let provinceName = "province"
    /// The province lease's bucket: no partition may take it either.
    static let provinceBucket = "collector_lease_province"

    /// The province's lease, beside a partition's (same NATS servers and lease length, key
    /// `province` in bucket `collector_lease_province`, the partition's member name): its holder
    /// computes the coverage indicators of the whole province from the shared store.
    static func province(of partition: CollectorConfig.PartitionConfig, logger: Logger,
                         registry: PrometheusCollectorRegistry? = nil) -> PartitionLease {
        var c = partition
        c.name = provinceName
        c.bucket = provinceBucket
        c.member = partition.name + "/" + partition.member
        return PartitionLease(config: c, what: "province lease", duty: "computing the province's coverage", logger: logger,
                              registry: registry) {}
    }

    func holds(at now: ContinuousClock.Instant) -> Bool { state.withLock { $0.holds(at: now) } }

    /// How long before its validity ends a holder stops starting commits (a commit must end
    /// before the store could let another holder in: a sixth of the lease, of the third left).
    var commitMargin: Duration { .milliseconds(config.leaseMillis) / 6 }

    /// The fencing token (our creating write's revision) while holding.
    var token: UInt64? { state.withLock { $0.token } }

    /// What `/readyz` says of this collector's part in the partition.
    func describe(at now: ContinuousClock.Instant) -> String {
        if let token, holds(at: now) { return "active for partition \(config.name) (fencing token \(token))" }
        let holder = lastHolder.withLock { $0 }
        return "standby for partition \(config.name)" + (holder.map { " (held by \($0))" } ?? "")
    }

    func start() {
        NamedThread.start(what.replacingOccurrences(of: " ", with: "-")) { [self] in run() }
    }

    /// Stops the thread. `release`: the ingest loop has committed and acknowledged everything
    /// it took and left the broker cleanly, so a held lease is released (its value emptied by
    /// a write conditional on our last revision) and a standby takes over at its next look;
    /// otherwise the lease runs out by itself.
    func stop(release: Bool) {
        releaseOnStop.store(release, ordering: .relaxed)
        stopRequested.store(true, ordering: .releasing)
        // Up to one store call (a fifth of the lease) and the release itself.
        let deadline = ContinuousClock.now + .milliseconds(2 * max(200, config.leaseMillis / 5)) + .seconds(1)
        while !stopped.load(ordering: .acquiring) && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    private func run() {
        defer { stopped.store(true, ordering: .releasing) }
        let tick = max(Duration.milliseconds(20), ttl / 20)
        var store: NATSKeyValue?
        var logged = false
        while !stopRequested.load(ordering: .acquiring) {
            if store == nil {
                do {
                    // A store call answered later than a fifth of the lease counts for nothing
                    // (`LeaseState`): 200 ms at the shortest lease (1 s).
                    store = try NATSKeyValue(servers: config.servers, bucket: config.bucket,
                                             timeoutMillis: config.leaseMillis / 5)
                    logger.info("\(what) store connected", metadata: ["partition": "\(config.name)", "bucket": "\(config.bucket)"])
                    if let kept = store?.removedExpiry {
                        logger.notice("\(what) bucket: removed its expiry (\(kept)); collectors now time the lease themselves",
                                      metadata: ["partition": "\(config.name)", "bucket": "\(config.bucket)"])
                    }
                } catch {
                    if !logged { logger.warning("cannot reach the \(what) store; retrying", metadata: ["error": "\(error)"]) }
                    logged = true
                    pause(ttl / 4)
                    continue
                }
            }
            if !step(store!) { store = nil }
            metrics?.held.set(to: holds(at: .now) ? 1 : 0)
            pause(tick)
        }
        if let store, releaseOnStop.load(ordering: .acquiring) { release(store) }
    }

    private func release(_ store: NATSKeyValue) {
        let now = ContinuousClock.now
        guard let revision = state.withLock({ s -> UInt64? in
            guard s.holds(at: now), case .holding(let revision, _, _, _) = s.phase else { return nil }
            s.lost()
            return revision
        }) else { return }
        if case .written = store.update(config.name, "", last: revision) {
            logger.notice("\(what) released for a standby", metadata: ["partition": "\(config.name)"])
        }
    }

    /// One look or write; false when the bucket must be bound again.
    private func step(_ store: NATSKeyValue) -> Bool {
        let now = ContinuousClock.now
        let (action, wasHolding) = state.withLock { s -> (LeaseState.Action?, Bool) in
            let held = s.token != nil
            return (s.next(at: now), held)
        }
        // (A created, unconfirmed key is not held: `token` is nil until the confirmation.)
        if wasHolding && action == .look {
            logger.error("\(what) lapsed: no renewal answered in time; stopped \(duty)", metadata: ["partition": "\(config.name)"])
            metrics?.lapsed.increment()
            onChange()
        }
        switch action {
        case nil:
            return true
        case .look:
            let read = store.entry(config.name)
            let answered = ContinuousClock.now
            let observed: LeaseState.Observed
            switch read {
            case .absent:
                observed = .absent
            case .entry(let text, _, let revision) where text == value:
                observed = .ours(revision: revision)
            case .entry(let text, let released, let revision):
                let holder = LeaseValue(parsing: text)
                observed = released ? .released(revision: revision) : .held(revision: revision, lease: holder.lease)
                lastHolder.withLock { $0 = released || holder.member.isEmpty ? nil : holder.member }
                if !released, let theirs = holder.lease, theirs != ttl, !warnedLease.exchange(true, ordering: .relaxed) {
                    logger.warning("\(what): its holder was given another lease length; waiting out the longer",
                                   metadata: ["partition": "\(config.name)", "holder": "\(holder.member)",
                                              "holder_lease": "\(theirs)", "lease": "\(ttl)"])
                }
            case .gone:
                // Deleted under us: bind again (which makes it afresh) at the next tick.
                logger.error("\(what): its bucket is gone (deleted?); making it again. With a shared store, see the README on fencing tokens",
                             metadata: ["partition": "\(config.name)", "bucket": "\(config.bucket)"])
                return false
            case .unknown:
                return true   // no answer: look again at the next tick
            }
            guard let move = state.withLock({ $0.observed(observed, at: answered) }) else { return true }
            let outcome: NATSKeyValue.Outcome
            switch move {
            case .create: outcome = store.create(config.name, value)
            case .take(let last): outcome = store.update(config.name, value, last: last)
            }
            if case .written(let rev) = outcome {
                state.withLock { $0.created(revision: rev, at: ContinuousClock.now) }
                let previous = lastHolder.withLock { h in defer { h = nil }; return h }
                if case .take = move, case .held = observed {
                    logger.warning("\(what): its key was left unchanged for a whole lease; taking it over",
                                   metadata: ["partition": "\(config.name)", "from": "\(previous ?? "?")"])
                }
            }
            // Refused (somebody wrote first) or unanswered: look again at the next tick.
        case .confirm(let created):
            switch store.update(config.name, value, last: created) {
            case .written(let rev):
                state.withLock { $0.confirmed(revision: rev, sentAt: now) }
                logger.notice("\(what) acquired: \(duty)", metadata: ["partition": "\(config.name)", "fencing_token": "\(created)"])
                metrics?.acquired.increment()
                onChange()
            case .refused:
                refused(store, ours: created, renewal: false)
            case .unknown:
                state.withLock { $0.renewFailed(at: ContinuousClock.now) }
            }
        case .renew(let last):
            switch store.update(config.name, value, last: last) {
            case .written(let rev):
                state.withLock { $0.renewed(revision: rev, sentAt: now) }
            case .refused:
                if !refused(store, ours: last, renewal: true) { onChange() }
            case .unknown(let why):
                state.withLock { $0.renewFailed(at: ContinuousClock.now) }
                logger.warning("\(what) renewal unanswered; retrying", metadata: ["partition": "\(config.name)", "error": "\(why)"])
            }
        }
        return true
    }

    /// A write conditional on our revision `ours` (a confirmation, or a renewal) was refused:
    /// another collector wrote the key, or the store lost our acknowledged write (its stream
    /// reset), which, three times in a row, makes the stream's leader step down.
    /// True when we carry on (our own earlier write was found).
    @discardableResult
    private func refused(_ store: NATSKeyValue, ours: UInt64, renewal: Bool) -> Bool {
        let vanished: Bool
        switch store.entry(config.name) {
        case .entry(let text, _, let revision) where text == value && revision > ours:
            if state.withLock({ $0.foundOurs(revision: revision, at: ContinuousClock.now) }) {
                logger.notice("\(what): a write of ours landed unanswered; carrying on from it",
                              metadata: ["partition": "\(config.name)", "revision": "\(revision)"])
                return true
            }
            vanished = false
        case .absent: vanished = true
        case .entry(_, _, let revision): vanished = revision < ours
        case .gone, .unknown: vanished = false
        }
        let stopped = renewal ? "; stopped \(duty)" : "; standing by"
        guard vanished else {
            if renewal { metrics?.lost.increment() }
            state.withLock { $0.lost() }
            logger.log(level: renewal ? .error : .warning, "\(what) lost: another collector wrote the key\(stopped)",
                       metadata: ["partition": "\(config.name)"])
            return false
        }
        let stepDown = state.withLock { $0.vanished() }
        metrics?.lostWrites.increment()
        if renewal { metrics?.lost.increment() }
        logger.error("\(what) lost: the key-value store lost a write it had acknowledged (its stream is resetting?)\(stopped)",
                     metadata: ["partition": "\(config.name)", "bucket": "\(config.bucket)", "revision": "\(ours)"])
        guard stepDown else { return false }
        let before = store.leader()
        let done = store.stepDown()
        metrics?.stepDowns.increment()
        logger.error("\(what): asked the bucket's stream leader to step down after \(LeaseState.lostWritesBeforeStepDown) lost writes in a row",
                     metadata: ["partition": "\(config.name)", "bucket": "\(config.bucket)", "leader": "\(before ?? "?")",
                                "done": "\(done)"])
        return false
    }

    private func pause(_ d: Duration) {
        let end = ContinuousClock.now + d
        while ContinuousClock.now < end && !stopRequested.load(ordering: .acquiring) {
            Thread.sleep(forTimeInterval: min(0.05, max(0.001, (end - ContinuousClock.now).inSeconds)))
        }
    }
}

/// The ingest connection to the broker as a state machine (a plain struct; `IngestLoop` does
/// the I/O and passes the time in): down until a retry time, connecting, or up. A lost link
/// is retried with exponential back-off, 1 s doubling to 30 s. A connection resets the
/// back-off, unless storage is failing: then the broker is fine and the commits are not, so
/// only a successful commit resets it (or a reload, which may have made room: retry at once).
///
/// With several brokers (the nodes of one cluster), a loss moves on to the next node at
/// once; the back-off applies only when every node has failed in turn since the last
/// connection, or while storage fails (another node would not help the commits).
struct BrokerLink {
    enum State: Equatable {
        case down(retryAt: ContinuousClock.Instant)
        case connecting
        case up
    }

    private(set) var state: State
    /// The wait before the next retry after a loss.
    private(set) var backoffSeconds = 1
    /// A commit failed and none has succeeded since.
    private(set) var storageFailing = false

    static let maxBackoffSeconds = 30

    /// How many brokers there are to choose from (at least 1).
    let brokerCount: Int
    /// The broker to connect to next, or connected to (an index into the configured list).
    private(set) var broker = 0
    /// Losses and failed attempts since the last connection.
    private var failuresSinceConnected = 0

    init(now: ContinuousClock.Instant, brokers: Int = 1) {
        state = .down(retryAt: now)
        brokerCount = max(1, brokers)
    }

    var isUp: Bool { state == .up }
    var isDown: Bool { if case .down = state { true } else { false } }

    /// When to connect: the retry time while down, nil otherwise.
    var retryAt: ContinuousClock.Instant? { if case .down(let t) = state { t } else { nil } }

    /// A connection attempt was started.
    mutating func connecting() { state = .connecting }

    /// The broker accepted the connection.
    mutating func connected() {
        state = .up
        failuresSinceConnected = 0
        if !storageFailing { backoffSeconds = 1 }
    }

    /// What a loss did: whether the link had been up, and the wait before the retry.
    struct Loss: Equatable {
        var wasUp: Bool
        var retryInSeconds: Int
    }

    /// The link was lost, or an attempt failed (`connectFailed`: also when already down).
    /// Nil when there was nothing to lose (already down). While stopping, no retry is planned.
    mutating func lost(connectFailed: Bool, stopping: Bool, now: ContinuousClock.Instant) -> Loss? {
        if isDown && !connectFailed { return nil }
        if stopping {
            state = .down(retryAt: now)
            return nil
        }
        let wasUp = isUp
        failuresSinceConnected += 1
        broker = (broker + 1) % brokerCount
        // Another node of the cluster, at once, until each has failed in turn since the last connection.
        if brokerCount > 1 && !storageFailing && failuresSinceConnected % brokerCount != 0 {
            state = .down(retryAt: now)
            return Loss(wasUp: wasUp, retryInSeconds: 0)
        }
        let loss = Loss(wasUp: wasUp, retryInSeconds: backoffSeconds)
        state = .down(retryAt: now + .seconds(backoffSeconds))
        backoffSeconds = min(backoffSeconds * 2, Self.maxBackoffSeconds)
        return loss
    }

    mutating func commitFailed() { storageFailing = true }

    mutating func commitSucceeded() {
        guard storageFailing else { return }
        storageFailing = false
        backoffSeconds = 1
    }

    /// A reload (SIGHUP): if storage was failing and the link waits, retry at once.
    mutating func reloaded(now: ContinuousClock.Instant) {
        guard storageFailing, isDown else { return }
        backoffSeconds = 1
        state = .down(retryAt: now)
    }

    /// The loop stopped.
    mutating func stopped(now: ContinuousClock.Instant) { state = .down(retryAt: now) }
}

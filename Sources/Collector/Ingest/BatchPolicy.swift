/// When the ingest loop commits, hands rollups to the merger, and writes raw readings while
/// idle: a plain struct, the time passed in (`IngestLoop` does the I/O).
///
/// - A batch is full at `maxMessages` messages (`mqtt.max_batch_messages`) or
///   `maxReadings` readings: packs of many readings make short transactions too, so PUBACKs
///   and alerts are not held back long.
/// - Under load (the socket has more to read) commits keep their rollup deltas; they go to the
///   merger when the socket has nothing more, and at least every `maxHandOffDelay`.
/// - Nothing read from the broker for `idleAfter`: the link is idle, and the readings waiting
///   for their blocks are written.
struct BatchPolicy {
    static let maxReadings = 20_000
    static let maxHandOffDelay: Duration = .milliseconds(200)
    static let idleAfter: Duration = .seconds(1)

    let maxMessages: Int
    private(set) var lastRead: ContinuousClock.Instant
    private(set) var lastHandOff: ContinuousClock.Instant

    init(maxMessages: Int, now: ContinuousClock.Instant) {
        self.maxMessages = maxMessages
        lastRead = now
        lastHandOff = now
    }

    /// The batch takes no more messages this iteration.
    func isFull(messages: Int, readings: Int) -> Bool {
        messages >= maxMessages || readings >= Self.maxReadings
    }

    /// Whether a commit starting `now` keeps its rollup deltas (true) or hands them over.
    func keepsRollups(now: ContinuousClock.Instant, socketBusy: Bool) -> Bool {
        now - lastHandOff < Self.maxHandOffDelay && socketBusy
    }

    /// Nothing has been read for `idleAfter`.
    func isIdle(now: ContinuousClock.Instant) -> Bool { now - lastRead >= Self.idleAfter }

    mutating func read(now: ContinuousClock.Instant) { lastRead = now }

    mutating func handedOff(now: ContinuousClock.Instant) { lastHandOff = now }
}

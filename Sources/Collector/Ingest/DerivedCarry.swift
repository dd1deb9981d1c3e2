import Telemetry

/// Derived readings the alert worker handed back, on their way into a commit, with the
/// journal row up to which their inputs' derived readings are in them or committed (the
/// store's derived watermark). A plain struct; `IngestLoop` drives it:
///
///     take(worker's outbox) -> commit its corrections (their own transaction)
///       -> correctionsCommitted()     or (kept, tried again at the next commit)
///       -> bind the readings into the batch (once) -> commit(watermark)
///       -> committed()                or -> failed() (kept for the next commit)
///
/// The readings are kept until a commit holds them: the broker redelivers messages whose
/// commit failed, but nobody redelivers derived readings. The watermark goes only with the
/// readings and corrections it covers. A correction goes before every reading taken with or
/// after it (a reading of its series it replaces is dropped when it comes).
struct DerivedCarry {
    private(set) var readings: [Reading] = []
    private(set) var corrections: [SeriesCorrection] = []
    private(set) var upTo: Int64?
    /// The worker's take generation the carry has reached: once it is empty, every derived
    /// reading up to it is stored.
    private(set) var generation = 0
    /// Whether `readings` are bound into the current batch.
    private(set) var inBatch = false

    /// Adds what the worker handed back. (`IngestLoop` takes only while nothing is bound: a
    /// correction could not take back a reading bound into the batch.)
    mutating func take(_ outbox: DerivedOutbox) {
        if let upTo = outbox.upTo { self.upTo = max(self.upTo ?? upTo, upTo) }
        generation = max(generation, outbox.generation)
        DerivedOutbox.apply(outbox.corrections, to: &readings, &corrections)
        readings += outbox.readings
    }

    /// The corrections were committed.
    mutating func correctionsCommitted() { corrections.removeAll() }

    /// Whether everything taken is stored.
    var isEmpty: Bool { readings.isEmpty && corrections.isEmpty }

    /// Binds the readings into the batch unless they are bound already: `bind` takes them
    /// (removing those it drops) and returns how many it dropped. Returns that number.
    mutating func bindOnce(_ bind: (inout [Reading]) -> Int) -> Int {
        guard !readings.isEmpty && !inBatch else { return 0 }
        let dropped = bind(&readings)
        inBatch = !readings.isEmpty
        return dropped
    }

    /// The watermark a commit may write now: only once every carried reading is in it and
    /// every correction committed.
    var watermark: Int64? { corrections.isEmpty && (readings.isEmpty || inBatch) ? upTo : nil }

    /// The commit holding the bound readings succeeded.
    mutating func committed() {
        if inBatch {
            readings.removeAll()
            inBatch = false
        }
    }

    /// The commit failed: its batch is dropped, the readings wait for the next.
    mutating func failed() { inBatch = false }
}

import Telemetry

/// Derived readings the alert worker handed back, on their way into a commit, with the
/// journal row up to which their inputs' derived readings are in them or committed (the
/// store's derived watermark). A plain struct; `IngestLoop` drives it:
///
///     take(worker's readings, upTo) -> bind into the batch (once) -> commit(watermark)
///       -> committed()            or -> failed() (kept for the next commit)
///
/// The readings are kept until a commit holds them: the broker redelivers messages whose
/// commit failed, but nobody redelivers derived readings. The watermark goes only with the
/// readings it covers.
struct DerivedCarry {
    private(set) var readings: [Reading] = []
    private(set) var upTo: Int64?
    /// Whether `readings` are bound into the current batch.
    private(set) var inBatch = false

    /// Adds what the worker handed back.
    mutating func take(_ derived: [Reading], upTo: Int64?) {
        if let upTo { self.upTo = max(self.upTo ?? upTo, upTo) }
        readings += derived
    }

    /// Binds the readings into the batch unless they are bound already: `bind` takes them
    /// (removing those it drops) and returns how many it dropped. Returns that number.
    mutating func bindOnce(_ bind: (inout [Reading]) -> Int) -> Int {
        guard !readings.isEmpty && !inBatch else { return 0 }
        let dropped = bind(&readings)
        inBatch = !readings.isEmpty
        return dropped
    }

    /// The watermark a commit may write now: only once every carried reading is in it.
    var watermark: Int64? { readings.isEmpty || inBatch ? upTo : nil }

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

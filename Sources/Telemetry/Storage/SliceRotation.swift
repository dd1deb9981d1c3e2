/// When the pending readings are written to their blocks, a slice of series at a time
/// (`RawPending`): one slice per `rotation / sliceCount` since the last slice write, so a
/// whole rotation takes `rotation` however often commits come (at least one slice a commit
/// past `maxPending` pending readings), and how far the journal is then in the blocks. A
/// plain state machine: the time is passed in.
struct SliceRotation {
    let rotation: Duration
    let sliceCount: Int
    /// The slice the next write takes.
    private(set) var next = 0
    private(set) var lastWrite: ContinuousClock.Instant
    /// The journal id the rotation in progress started after.
    private var startedAfter: Int64 = 0

    init(rotation: Duration, sliceCount: Int = RawPending.sliceCount, now: ContinuousClock.Instant) {
        self.rotation = rotation
        self.sliceCount = sliceCount
        lastWrite = now
    }

    /// How many slices a commit at `clock` writes, with `pending` readings waiting.
    func due(at clock: ContinuousClock.Instant, pending: Int, maxPending: Int) -> Int {
        guard pending > 0 else { return 0 }
        let perSlice = rotation / sliceCount
        if perSlice == .zero { return 1 }
        let due = min(sliceCount, Int((clock - lastWrite) / perSlice))
        return pending > maxPending ? max(1, due) : due
    }

    /// Slice `next` was written at `clock` by a commit after journal row `before` (its own row
    /// excluded). Returns the journal id up to which every reading is now in its blocks when
    /// that completes a rotation (one that started after `before` of its first slice), else nil.
    mutating func written(at clock: ContinuousClock.Instant, before: Int64) -> Int64? {
        let k = next
        lastWrite = clock
        next = (k + 1) % sliceCount
        if k == 0 { startedAfter = before }
        return k == sliceCount - 1 ? startedAfter : nil
    }

    /// Every slice was written at once (a stop): the next rotation starts from the first.
    mutating func restart() { next = 0 }
}

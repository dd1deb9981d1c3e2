/// How far each consumer of the journal (`rollup_journal`) has got, by row id: a plain
/// struct, so the rules of when a row may go are in one place and unit-tested.
///
/// A row is written by a commit (`next`), handed to the rollup merger (`handedUpTo`), merged
/// into every tier (the merger's `mergedUpTo`, passed in), its readings written to their
/// sample blocks (`rawWrittenUpTo`), and, when derived series are tracked, its derived
/// readings committed (`derivedUpTo`). It may be deleted once all of those hold
/// (`trimLimit`); until then, a row that is merged and in its blocks is kept for its derived
/// readings only, and may be compacted to the readings that feed them (`compactTarget`).
/// Every mark only moves forward.
struct JournalMarks: Equatable {
    /// The id the next row gets (explicit ids: they never go back, even when the journal is
    /// emptied).
    private(set) var next: Int64
    /// Rows up to this id are handed to the merger (or merged).
    private(set) var handedUpTo: Int64
    /// Rows up to this id are in the 1m tier already (merged before a restart): a replay adds
    /// their readings to the coarser tiers only.
    let minuteMergedUpTo: Int64
    /// Rows up to this id are deleted.
    private(set) var trimmedUpTo: Int64 = 0
    /// Rows up to this id have had their derived readings committed (`derived_state.upto`).
    private(set) var derivedUpTo: Int64
    /// Rows up to this id hold only readings of series that feed derived series.
    private(set) var compactedUpTo: Int64
    /// Rows up to this id have every reading in the sample blocks.
    private(set) var rawWrittenUpTo: Int64
    /// Whether rows wait for their derived readings before they go.
    let tracksDerived: Bool

    /// At a start: what the files say (`mergedUpTo`, `minuteMergedUpTo`: the rollups file's
    /// `merge_state`; the journal's last row; `derived_state.upto`). Every row of an earlier
    /// run is written to its blocks before the store takes commits (`writeJournalToRaw`), and
    /// left as it is by compaction (compacted then, or a killed run's last few).
    init(mergedUpTo: Int64, minuteMergedUpTo: Int64, lastRow: Int64, derivedUpTo: Int64, tracksDerived: Bool) {
        handedUpTo = mergedUpTo
        self.minuteMergedUpTo = minuteMergedUpTo
        next = max(minuteMergedUpTo, lastRow) + 1
        self.derivedUpTo = derivedUpTo
        self.tracksDerived = tracksDerived
        rawWrittenUpTo = next - 1
        compactedUpTo = next - 1
    }

    /// How far rows may be deleted: merged, in the sample blocks, and (tracking derived
    /// series) with their derived readings committed.
    func trimLimit(merged: Int64) -> Int64 {
        min(merged, rawWrittenUpTo, tracksDerived ? derivedUpTo : .max)
    }

    /// How far rows may be compacted now (nil: nothing new): merged and in their blocks.
    func compactTarget(merged: Int64) -> Int64? {
        let upTo = min(merged, rawWrittenUpTo)
        return upTo > compactedUpTo ? upTo : nil
    }

    /// Compaction starts after this row: the rows before are compacted, deleted or done
    /// with their derived readings (and so trimmed soon).
    var compactAfter: Int64 { max(compactedUpTo, trimmedUpTo, derivedUpTo) }

    /// A commit wrote a row (its id was `next`).
    mutating func journaled() { next += 1 }

    /// A failed commit: the row it would have written (`id`) is not there.
    mutating func rolledBack(to id: Int64) { next = id }

    /// Every row so far is handed to the merger.
    mutating func handedOff() { handedUpTo = next - 1 }

    /// Rows up to `id` are handed to the merger (a replay, as far as it has got).
    mutating func handed(upTo id: Int64) { handedUpTo = max(handedUpTo, id) }

    /// Rows up to `id` are deleted.
    mutating func trimmed(to id: Int64) { trimmedUpTo = max(trimmedUpTo, id) }

    /// Rows up to `id` are compacted.
    mutating func compacted(to id: Int64) { compactedUpTo = max(compactedUpTo, id) }

    /// Rows up to `id` have had their derived readings committed.
    mutating func derived(upTo id: Int64) { derivedUpTo = max(derivedUpTo, id) }

    /// Rows up to `id` have every reading in the sample blocks.
    mutating func rawWritten(upTo id: Int64) { rawWrittenUpTo = max(rawWrittenUpTo, id) }
}

import Testing
@testable import Telemetry

/// When a journal row may go: once merged into every tier, written to its sample blocks and
/// (tracking derived series) done with its derived readings; compacted meanwhile; every mark
/// only forward.
@Suite struct JournalMarksTests {
    @Test func aStartPicksUpWhereTheFilesSayAndRowsGoOnlyWhenEveryConsumerIsDone() {
        // The rollups file merged rows up to 5 (the 1m tier up to 7); the journal's last row is
        // 9; derived readings were committed up to 4.
        var m = JournalMarks(mergedUpTo: 5, minuteMergedUpTo: 7, lastRow: 9, derivedUpTo: 4, tracksDerived: true)
        #expect(m.next == 10 && m.handedUpTo == 5 && m.rawWrittenUpTo == 9 && m.compactedUpTo == 9)
        #expect(m.trimLimit(merged: 5) == 4)   // the derived readings hold it back
        m.derived(upTo: 8)
        #expect(m.trimLimit(merged: 5) == 5 && m.trimLimit(merged: 9) == 8)
        // Without derived series, merged and written is enough.
        let plain = JournalMarks(mergedUpTo: 5, minuteMergedUpTo: 5, lastRow: 9, derivedUpTo: 0, tracksDerived: false)
        #expect(plain.trimLimit(merged: 9) == 9)
        // A journal emptied at a restart: ids go on after the 1m tier's mark.
        #expect(JournalMarks(mergedUpTo: 12, minuteMergedUpTo: 12, lastRow: 0, derivedUpTo: 0, tracksDerived: false).next == 13)
    }

    @Test func commitsAndWritesMoveTheMarksForwardOnly() {
        var m = JournalMarks(mergedUpTo: 0, minuteMergedUpTo: 0, lastRow: 0, derivedUpTo: 0, tracksDerived: true)
        m.journaled()
        m.journaled()
        #expect(m.next == 3)
        m.rolledBack(to: 2)   // the second commit failed
        #expect(m.next == 2)
        m.handedOff()
        #expect(m.handedUpTo == 1)
        // Raw written up to 1 only: rows after it stay whatever the merger did.
        m.rawWritten(upTo: 1)
        #expect(m.trimLimit(merged: 10) == 0)   // nothing derived yet
        m.derived(upTo: 1)
        #expect(m.trimLimit(merged: 10) == 1)
        m.rawWritten(upTo: 0)
        m.derived(upTo: 0)
        m.trimmed(to: 1)
        m.trimmed(to: 0)
        #expect(m.rawWrittenUpTo == 1 && m.derivedUpTo == 1 && m.trimmedUpTo == 1)
    }

    @Test func compactionTakesRowsMergedAndWrittenNotYetDone() {
        // This run's rows start after 9; rows 10...20 get written and merged.
        var m = JournalMarks(mergedUpTo: 9, minuteMergedUpTo: 9, lastRow: 9, derivedUpTo: 9, tracksDerived: true)
        for _ in 10...20 { m.journaled() }
        #expect(m.compactTarget(merged: 20) == nil)   // not in their blocks yet
        m.rawWritten(upTo: 15)
        #expect(m.compactTarget(merged: 20) == 15 && m.compactTarget(merged: 12) == 12)
        #expect(m.compactAfter == 9)
        m.compacted(to: 15)
        #expect(m.compactTarget(merged: 20) == nil)
        // Rows done with their derived readings are trimmed, not compacted.
        m.derived(upTo: 17)
        m.rawWritten(upTo: 20)
        #expect(m.compactTarget(merged: 20) == 20 && m.compactAfter == 17)
    }
}

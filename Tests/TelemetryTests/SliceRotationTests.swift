import Testing
@testable import Telemetry

/// `SliceRotation`: slices fall due with the time passed, however often commits come; past
/// the pending bound every commit writes one; a rotation reports how far the journal is in
/// the blocks only when its last slice is written, and only up to where its first one began.
@Suite struct SliceRotationTests {
    @Test func slicesFollowTheTimeAndARotationReportsItsStart() {
        let t0 = ContinuousClock.now
        var r = SliceRotation(rotation: .seconds(4), sliceCount: 4, now: t0)
        #expect(r.due(at: t0, pending: 10, maxPending: 100) == 0)
        #expect(r.due(at: t0 + .milliseconds(999), pending: 10, maxPending: 100) == 0)
        #expect(r.due(at: t0 + .seconds(1), pending: 10, maxPending: 100) == 1)
        #expect(r.due(at: t0 + .seconds(2), pending: 10, maxPending: 100) == 2)
        #expect(r.due(at: t0 + .seconds(60), pending: 10, maxPending: 100) == 4)   // at most a rotation
        #expect(r.due(at: t0 + .seconds(60), pending: 0, maxPending: 100) == 0)    // nothing pending
        #expect(r.due(at: t0, pending: 101, maxPending: 100) == 1)                 // past the bound
        // Slices 0..3: the first written after journal row 7, the last after row 20.
        var reported: [Int64?] = []
        for (k, before) in [Int64(7), 9, 15, 20].enumerated() {
            #expect(r.next == k)
            reported.append(r.written(at: t0 + .seconds(k + 1), before: before))
        }
        #expect(reported == [nil, nil, nil, 7])   // everything journaled up to row 7
        #expect(r.next == 0 && r.lastWrite == t0 + .seconds(4))
        #expect(r.due(at: t0 + .seconds(4) + .milliseconds(500), pending: 1, maxPending: 100) == 0)
        // A rotation that starts midway reports only once its own last slice is written.
        _ = r.written(at: t0 + .seconds(5), before: 30)
        r.restart()
        #expect(r.next == 0)
        #expect((0..<3).map { _ in r.written(at: t0 + .seconds(6), before: 40) } == [nil, nil, nil])
        #expect(r.written(at: t0 + .seconds(7), before: 50) == 40)
    }

    @Test func aRotationTooShortForItsSlicesWritesOneEachCommit() {
        let t0 = ContinuousClock.now
        let r = SliceRotation(rotation: .zero, sliceCount: 64, now: t0)
        #expect(r.due(at: t0, pending: 1, maxPending: 100) == 1)
    }
}

import Foundation
import Testing
@testable import Telemetry

/// The merger's handover chunks: reused while deltas keep coming, let go once it is idle.
@Suite struct RollupMergerBufferTests {
    @Test func chunksAreReusedThenLetGoWhenIdle() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("m.sqlite")
        _ = try TelemetryDatabase.open(path: path)   // (migrates the rollups file too)
        let merger = try RollupMerger(path: TelemetryDatabase.rollupsPath(for: path), synchronous: 1, maxPageCount: 1 << 30,
                                      idleRelease: .milliseconds(300))
        defer { merger.stop() }
        var chunk = merger.buffer()
        #expect(chunk.capacity >= RollupMerger.chunkDeltas)
        for k in 0..<10 {
            chunk.append((BucketKey(tier: .minute, series: SeriesID(1), start: EpochMillis(k) * 60_000), Bucket(time: EpochMillis(k) * 60_000, value: 1)))
        }
        merger.submit(chunk, upTo: 1, readings: 10)
        try merger.wait(upTo: 1)
        // Merged: its array is held for the next handover.
        #expect(merger.spareCount == 1)
        let deadline = Date().addingTimeInterval(10)
        while merger.spareCount > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(merger.spareCount == 0)
    }
}

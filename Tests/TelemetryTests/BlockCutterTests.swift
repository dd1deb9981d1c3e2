import Testing
@testable import Telemetry

/// Blocks are cut to fit a row inside its SQLite page: at most the count, and at most
/// `BlockCutter.maxBytes` once encoded, covering every item once, in order.
@Suite struct BlockCutterTests {
    @Test func blocksFitTheirPageAndCoverEverySample() {
        var rng = SplitMix64(seed: 51)
        // Steady two-decimal readings (about 1 B each) and noise (about 8 B each).
        let steady = (0..<5_000).map { Sample(time: 1_795_000_000_000 + EpochMillis($0) * 10_000, value: 20 + Double($0 % 7) / 100) }
        let noisy = (0..<5_000).map { Sample(time: 1_795_000_000_000 + EpochMillis($0) * 10_000, value: Double(rng.next() % 1_000_000) / 1e3.squareRoot()) }
        for samples in [steady, noisy] {
            var covered = 0
            var counts: [Int] = []
            BlockCutter.cut(samples, maxCount: BlockStore.maxSamplesPerBlock, encode: { SampleBlock.encode(Array($0)) }) { range, bytes in
                #expect(range.lowerBound == covered && bytes.count <= BlockCutter.maxBytes)
                #expect((try? SampleBlock.decode(bytes)) == Array(samples[range]))
                covered = range.upperBound
                counts.append(range.count)
            }
            #expect(covered == samples.count)
            // Not cut finer than needed: every block but the last is over half full.
            #expect(counts.dropLast().allSatisfy { $0 == BlockStore.maxSamplesPerBlock || SampleBlock.encode(Array(samples.prefix($0 * 2))).count > BlockCutter.maxBytes })
        }
        // One item larger than the limit still gets its block.
        var seen = 0
        BlockCutter.cut([1, 2, 3], maxCount: 8, maxBytes: 4, encode: { Array(repeating: 0, count: 10 * $0.count) }) { range, bytes in
            #expect(range.count == 1 && bytes.count == 10)
            seen += 1
        }
        #expect(seen == 3)
    }
}

import Testing
@testable import Telemetry

/// `SampleBlock`: decode(encode(x)) is x, bit for bit, for random and adversarial series
/// (checked against the input itself, the naive oracle); sensor-like data costs little; a
/// damaged block is refused, never a crash.
@Suite struct SampleBlockTests {
    static func roundTrips(_ samples: [Sample], _ label: @autoclosure () -> String = "") throws {
        let back = try SampleBlock.decode(SampleBlock.encode(samples))
        #expect(back.count == samples.count, "\(label())")
        for (a, b) in zip(samples, back) where a.time != b.time || a.value.bitPattern != b.value.bitPattern {
            Issue.record("\(label()): \(a) came back as \(b)")
            return
        }
    }

    static func random(_ rng: inout SplitMix64, kind: Int, count: Int) -> [Sample] {
        var t: EpochMillis = 1_795_000_000_000 + EpochMillis(rng.next() % 1_000_000)
        var v = Double(rng.next() % 10_000) / 100
        var out: [Sample] = []
        for _ in 0..<count {
            switch kind % 6 {
            case 0: t += 10_000                                                    // on the grid
            case 1: t += 10_000 + (rng.next() % 50 == 0 ? 1000 : 0)                // 2 % a second off
            case 2: t += EpochMillis(rng.next() % 3_600_000)                        // irregular
            case 3: t += 0                                                         // equal times
            case 4: t += EpochMillis(rng.next() % 2 == 0 ? 1 : 400_000_000_000)    // huge and tiny steps
            default: t -= EpochMillis(rng.next() % 100_000)                          // going back
            }
            switch kind % 5 {
            case 0: v += Double(Int(rng.next() % 21) - 10) / 100                    // two decimals, drift
            case 1: v = Double(rng.next() % 1000) / 10                              // one decimal, jumps
            case 2: v = Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF)       // any finite positive bits
            case 3: v = [0.0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude,
                         -.greatestFiniteMagnitude, .leastNormalMagnitude, 1e-300, 9_007_199_254_740_994][Int(rng.next() % 9)]
            default: v = Double(Int64(bitPattern: rng.next()) >> 11)                  // large integers
            }
            out.append(Sample(time: t, value: v))
        }
        return out
    }

    @Test(arguments: 0..<30)
    func randomSeriesRoundTrip(kind: Int) throws {
        var rng = SplitMix64(seed: UInt64(kind) &* 7919 &+ 1)
        for count in [0, 1, 2, 3, 17, 500] {
            try Self.roundTrips(Self.random(&rng, kind: kind, count: count), "kind \(kind), \(count) samples")
        }
    }

    @Test func adversarialValues() throws {
        let t: EpochMillis = 1_795_000_000_000
        let cases: [[Double]] = [
            [-0.0], [0.0, -0.0, 0.0], [.leastNonzeroMagnitude, 0], [.greatestFiniteMagnitude, -.greatestFiniteMagnitude],
            [0.1, 0.2, 0.30000000000000004], [1e15, 1e15 + 1], [9_007_199_254_740_992, 9_007_199_254_740_994],
            [123.456789012345678], [.infinity, -.infinity, .nan], [1, 1, 1, 1],
        ]
        for values in cases {
            try Self.roundTrips(values.enumerated().map { Sample(time: t + EpochMillis($0.offset), value: $0.element) }, "\(values)")
        }
        for times: [EpochMillis] in [[.min, .max, 0], [.max, .min], [0, 0, 0], [-5, 5, -5]] {
            try Self.roundTrips(times.map { Sample(time: $0, value: 1) }, "\(times)")
        }
    }

    /// Which coding a block gets: decimal for readings of a few decimals, XOR when -0.0 or a
    /// subnormal is among them.
    @Test func theCodingFollowsTheValues() {
        #expect(SampleBlock.decimalExponent([Sample(time: 0, value: 21.5), Sample(time: 1, value: 21.25)]) == 2)
        #expect(SampleBlock.decimalExponent([Sample(time: 0, value: 3)]) == 0)
        #expect(SampleBlock.decimalExponent([Sample(time: 0, value: -0.0)]) == nil)
        #expect(SampleBlock.decimalExponent([Sample(time: 0, value: .leastNonzeroMagnitude)]) == nil)
    }

    /// A day of a 10 s sensor (two decimals, slow drift, 2 % of times a second off): well
    /// under 2 bytes a reading before any general-purpose compression.
    @Test func sensorLikeDataIsSmall() throws {
        var rng = SplitMix64(seed: 42)
        var samples: [Sample] = []
        var t: EpochMillis = 1_795_000_000_000
        var v = 25.0
        for _ in 0..<8_640 {
            t += 10_000
            let jitter: EpochMillis = rng.next() % 50 == 0 ? 1000 : 0
            v = ((v + Double(Int(rng.next() % 5) - 2) / 100) * 100).rounded() / 100
            samples.append(Sample(time: t + jitter, value: v))
        }
        let bytes = SampleBlock.encode(samples)
        #expect(Double(bytes.count) / Double(samples.count) < 1.2, "\(bytes.count) bytes for \(samples.count) readings")
        try Self.roundTrips(samples)
    }

    /// The bytes of the format stay as they are whatever the encoder's speed-ups: a day of a
    /// sensor, a counter, a mix of decimals and the XOR coding, hashed (FNV-1a) against the
    /// hashes blocks written before had (pinned at afed43d, before the encoder wrote prefix and value at once and rounded without libm).
    @Test func theBytesStayTheSame() {
        var rng = SplitMix64(seed: 7)
        var day: [Sample] = [], counter: [Sample] = [], mixed: [Sample] = []
        var t: EpochMillis = 1_795_000_000_000
        var v = 25.0, c = 0.0
        for k in 0..<2_000 {
            t += rng.next() % 50 == 0 ? 11_000 : 10_000
            v = ((v + Double(Int(rng.next() % 7) - 3) / 100) * 100).rounded() / 100
            c += Double(rng.next() % 1_000)
            day.append(Sample(time: t, value: v))
            counter.append(Sample(time: t, value: c))
            mixed.append(Sample(time: t + EpochMillis(rng.next() % 3), value: k % 97 == 0 ? 1.0 / 3 : v * 1_000 + 0.125))
        }
        func fnv(_ bytes: [UInt8]) -> UInt64 {
            bytes.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        }
        let hashes = [day, counter, mixed].map { fnv(SampleBlock.encode($0)) }
        #expect(hashes == [2_070_420_010_767_861_548, 10_564_503_591_616_571_894, 11_414_689_506_172_859_194], "\(hashes)")
    }

    /// Damaged blocks: refused with a reason, never a crash or a wrong answer.
    @Test func damagedBlocksAreRefused() {
        var rng = SplitMix64(seed: 9)
        let good = SampleBlock.encode(Self.random(&rng, kind: 7, count: 50))
        #expect(throws: BlockError.self) { try SampleBlock.decode([]) }
        #expect(throws: BlockError.self) { try SampleBlock.decode([2, 0, 0]) }
        #expect(throws: BlockError.self) { try SampleBlock.decode(Array(good.prefix(good.count / 2))) }
        #expect(throws: BlockError.self) { try SampleBlock.decode([1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) }
        // Random bytes after a valid header: either refused or decoded to the count it says.
        for _ in 0..<2000 {
            var junk = Array(good.prefix(4))
            for _ in 0..<Int(rng.next() % 64) { junk.append(UInt8(truncatingIfNeeded: rng.next())) }
            _ = try? SampleBlock.decode(junk)
        }
    }
}

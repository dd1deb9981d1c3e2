import Testing
@testable import Telemetry

/// `RollupBlock`: decode(encode(x)) is x for buckets built from random and adversarial
/// readings (the buckets themselves are the oracle), every column bit for bit except a sum
/// the format may snap to its decimal, and then only within the rounding of its additions;
/// a sum that is not within rounding of a decimal is never snapped; sensor-like minutes cost
/// little; a damaged block is refused, never a crash.
@Suite struct RollupBlockTests {
    /// Buckets of `width` ms built from `samples` (any order), in start order.
    static func buckets(_ samples: [Sample], width: EpochMillis) -> [(start: EpochMillis, bucket: Bucket)] {
        var byStart: [EpochMillis: Bucket] = [:]
        for s in samples {
            let start = s.time - ((s.time % width) + width) % width
            byStart[start, default: .empty].add(time: s.time, value: s.value)
        }
        return byStart.sorted { $0.key < $1.key }.map { (start: $0.key, bucket: $0.value) }
    }

    static func roundTrips(_ buckets: [(start: EpochMillis, bucket: Bucket)], _ label: String) throws {
        let back = try RollupBlock.decode(RollupBlock.encode(buckets))
        #expect(back.count == buckets.count, "\(label)")
        for (a, b) in zip(buckets, back) {
            let x = a.bucket, y = b.bucket
            let exact = a.start == b.start && x.count == y.count && x.firstTime == y.firstTime && x.lastTime == y.lastTime
                && [x.min, x.max, x.first, x.last].map(\.bitPattern) == [y.min, y.max, y.first, y.last].map(\.bitPattern)
            let n = Double(x.count)
            let sumOK = x.sum.bitPattern == y.sum.bitPattern
                || abs(x.sum - y.sum) <= n * n * max(abs(x.min), abs(x.max)) * Double.ulpOfOne + x.sum.ulp
            if !exact || !sumOK {
                Issue.record("\(label): \(a) came back as \(b)")
                return
            }
        }
    }

    @Test(arguments: 0..<30)
    func randomBucketsRoundTrip(kind: Int) throws {
        var rng = SplitMix64(seed: UInt64(kind) + 100)
        let samples = SampleBlockTests.random(&rng, kind: kind, count: 2_000)
        for width: EpochMillis in [60_000, 900_000, 3_600_000] {
            try Self.roundTrips(Self.buckets(samples, width: width), "kind \(kind) width \(width)")
        }
    }

    /// A middle reading with more decimals than the bucket's minimum, maximum, first and last:
    /// its sum is no decimal at their exponent, and comes back bit for bit.
    @Test func aSumWithMoreDecimalsIsNeverSnapped() throws {
        let samples = [Sample(time: 0, value: 1.0), Sample(time: 10_000, value: 1.005), Sample(time: 20_000, value: 2.0),
                       Sample(time: 60_000, value: 1.5), Sample(time: 70_000, value: 1.25)]
        let b = Self.buckets(samples, width: 60_000)
        let back = try RollupBlock.decode(RollupBlock.encode(b))
        #expect(back.map(\.bucket.sum.bitPattern) == b.map(\.bucket.sum.bitPattern))
        #expect(RollupBlock.chooseCodings(b)[RollupBlock.Column.sum.rawValue].coding != .snapped)
    }

    /// A day of a two-decimal 10 s sensor with 2 % of its times a second off: its 1,440
    /// minutes, sums snapped (their float noise gone), cost 4.5 B a minute (0.75 B a
    /// reading); its quarters 7.6 B and hours 10.4 B a bucket.
    @Test func sensorMinutesAreSmall() throws {
        var rng = SplitMix64(seed: 8)
        var v = 21.0
        let day = (0..<8_640).map { k -> Sample in
            v = ((v + Double(Int(rng.next() % 5) - 2) / 100) * 100).rounded() / 100
            return Sample(time: 1_795_000_000_000 + EpochMillis(k) * 10_000 + (rng.next() % 50 == 0 ? 1000 : 0), value: v)
        }
        for (width, most) in [(EpochMillis(60_000), 5.0), (900_000, 8.5), (3_600_000, 11.5)] {
            let b = Self.buckets(day, width: width)
            try Self.roundTrips(b, "width \(width)")
            let size = RollupBlock.encode(b).count
            #expect(Double(size) / Double(b.count) <= most, "\(size) B for \(b.count) buckets of \(width) ms")
            #expect(RollupBlock.chooseCodings(b).map(\.coding) == [.snapped, .decimal, .decimal, .decimal, .decimal])
        }
    }

    /// The bytes of the format stay as they are whatever the encoder's speed-ups: minutes of
    /// a two-decimal sensor (snapped sums), of a counter, and of thirds (XOR), hashed (FNV-1a)
    /// against the hashes blocks written before had (pinned at ab8655b, before the sums were rounded without libm).
    @Test func theBytesStayTheSame() {
        var rng = SplitMix64(seed: 5)
        var sensor: [Sample] = [], counter: [Sample] = [], thirds: [Sample] = []
        var t: EpochMillis = 1_795_000_000_000
        var v = 20.0, c = 0.0
        for k in 0..<6_000 {
            t += 10_000
            v = ((v + Double(Int(rng.next() % 5) - 2) / 100) * 100).rounded() / 100
            c += Double(rng.next() % 100)
            sensor.append(Sample(time: t, value: v))
            counter.append(Sample(time: t, value: c))
            thirds.append(Sample(time: t, value: Double(k % 7) / 3))
        }
        func fnv(_ bytes: [UInt8]) -> UInt64 {
            bytes.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        }
        let hashes = [sensor, counter, thirds].map { fnv(RollupBlock.encode(Self.buckets($0, width: 60_000))) }
        #expect(hashes == [12_366_010_981_822_928_154, 438_835_580_748_857_783, 7_686_129_683_301_139_857], "\(hashes)")
    }

    @Test func damagedBlocksAreRefused() throws {
        var rng = SplitMix64(seed: 9)
        let b = Self.buckets(SampleBlockTests.random(&rng, kind: 1, count: 500), width: 60_000)
        let bytes = RollupBlock.encode(b)
        for cut in stride(from: 0, to: bytes.count - 1, by: 7) {
            // A truncated block is refused or decodes to fewer buckets: never a crash.
            if let back = try? RollupBlock.decode(Array(bytes.prefix(cut))) { #expect(back.count <= b.count) }
        }
        for _ in 0..<200 {
            var damaged = bytes
            damaged[Int(rng.next() % UInt64(damaged.count))] ^= UInt8(1 + rng.next() % 255)
            _ = try? RollupBlock.decode(damaged)
        }
        #expect(throws: BlockError.self) { try RollupBlock.decode([2, 1]) }
        #expect(try RollupBlock.decode(RollupBlock.encode([])).isEmpty)
    }
}

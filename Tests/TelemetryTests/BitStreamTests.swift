import Testing
@testable import Telemetry

/// The bit stream under every block: what `BitWriter` writes is a naive writer's bytes (one
/// bit at a time, most significant first, the last byte padded with zeros), and `BitReader`
/// reads it back.
struct BitStreamTests {
    @Test func writesWhatANaiveWriterWrites() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            var writer = BitWriter(bytes: [0xAB])
            var naive: [Bool] = []
            var writes: [(UInt64, Int)] = []
            for _ in 0..<Int.random(in: 0...200, using: &rng) {
                let count = [0, 1, 2, 7, 8, 9, 31, 32, 33, 63, 64, Int.random(in: 0...64, using: &rng)].randomElement(using: &rng)!
                let value = UInt64.random(in: 0...UInt64.max, using: &rng)   // bits above `count` must be ignored
                writer.write(value, bits: count)
                writes.append((value, count))
                for k in stride(from: count - 1, through: 0, by: -1) { naive.append(value >> UInt64(k) & 1 == 1) }
            }
            var expected: [UInt8] = [0xAB]
            for start in stride(from: 0, to: naive.count, by: 8) {
                var byte: UInt8 = 0
                for k in 0..<8 { byte = byte << 1 | (start + k < naive.count && naive[start + k] ? 1 : 0) }
                expected.append(byte)
            }
            let bytes = writer.finish()
            #expect(bytes == expected)
            var reader = BitReader(bytes, offset: 1)
            for (value, count) in writes {
                let mask = count == 64 ? UInt64.max : (1 << UInt64(count)) - 1
                #expect(try reader.read(bits: count) == value & mask)
            }
        }
    }
}

/// Bits written most significant first into bytes (`SampleBlock`'s bit stream). The last byte
/// is padded with zero bits.
struct BitWriter {
    private(set) var bytes: [UInt8]
    /// Bits not yet flushed to `bytes`, in the low `pendingCount` bits (0...63 of them):
    /// flushed eight bytes at a time, not a byte at a time (a fifth of an import's committing
    /// thread went to appending single bytes).
    private var pending: UInt64 = 0
    private var pendingCount = 0

    init(bytes: [UInt8] = []) { self.bytes = bytes }

    /// The low `count` bits of `value` (0...64), most significant first.
    @inline(__always)
    mutating func write(_ value: UInt64, bits count: Int) {
        guard count > 0 else { return }
        let masked = count == 64 ? value : value & ((1 &<< UInt64(count)) &- 1)
        let free = 64 - pendingCount
        if count < free {
            pending = (pending &<< UInt64(count)) | masked
            pendingCount += count
            return
        }
        // The accumulator fills: its 64 bits go out, the rest of `value` stays.
        let rest = count - free
        let full = free == 64 ? masked : (pending &<< UInt64(free)) | (masked &>> UInt64(rest))
        withUnsafeBytes(of: full.bigEndian) { bytes.append(contentsOf: $0) }
        pending = rest == 0 ? 0 : masked & ((1 &<< UInt64(rest)) &- 1)
        pendingCount = rest
    }

    @inline(__always)
    mutating func write(bit: Bool) { write(bit ? 1 : 0, bits: 1) }

    /// The bytes with the last partial byte padded.
    mutating func finish() -> [UInt8] {
        if pendingCount > 0 {
            let aligned = pending &<< UInt64(64 - pendingCount)
            for k in 0..<(pendingCount + 7) / 8 { bytes.append(UInt8(truncatingIfNeeded: aligned &>> UInt64(56 - 8 * k))) }
            pending = 0
            pendingCount = 0
        }
        return bytes
    }
}

/// Reads what `BitWriter` wrote, from `offset` on; reading past the end throws.
struct BitReader {
    private let bytes: [UInt8]
    private var bit: Int

    init(_ bytes: [UInt8], offset: Int) {
        self.bytes = bytes
        bit = offset * 8
    }

    @inline(__always)
    mutating func read(bits count: Int) throws(BlockError) -> UInt64 {
        guard count > 0 else { return 0 }
        guard bit + count <= bytes.count * 8 else { throw BlockError("truncated bit stream") }
        var out: UInt64 = 0
        var left = count
        while left > 0 {
            let byte = bytes[bit >> 3]
            let used = bit & 7
            let take = min(8 - used, left)
            let chunk = (UInt64(byte) >> UInt64(8 - used - take)) & ((1 << UInt64(take)) - 1)
            out = (out << UInt64(take)) | chunk
            left -= take
            bit += take
        }
        return out
    }

    @inline(__always)
    mutating func readBit() throws(BlockError) -> Bool { try read(bits: 1) == 1 }
}

/// A block that cannot be decoded (truncated, or not one of ours).
public struct BlockError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

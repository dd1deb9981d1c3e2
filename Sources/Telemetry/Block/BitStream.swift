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

/// `BitReader` for the sample decoder's loop: 64 bits looked at at once (an unaligned
/// big-endian load), over a copy of the bytes padded with `padding` zero bytes, so a read
/// never checks bounds; the caller checks `isPastEnd` once per sample (a sample takes at most
/// 146 bits, so reading on into the padding cannot leave it).
struct BitCursor {
    /// Zero bytes after the stream: a sample's most bits (146) plus the look-ahead's 9 bytes.
    static let padding = 32
    private let base: UnsafePointer<UInt8>
    private(set) var bit: Int
    /// The stream's length in bits.
    let end: Int

    /// `base` holds `end / 8` bytes and then `padding` zero bytes.
    init(_ base: UnsafePointer<UInt8>, bit: Int, end: Int) {
        self.base = base
        self.bit = bit
        self.end = end
    }

    /// Whether a read went past the stream's end (what was read there is padding).
    var isPastEnd: Bool { bit > end }

    /// The next 64 bits, most significant first.
    @inline(__always)
    func peek() -> UInt64 {
        let byte = bit &>> 3
        let shift = UInt64(bit & 7)
        let word = UInt64(bigEndian: UnsafeRawPointer(base + byte).loadUnaligned(as: UInt64.self))
        return shift == 0 ? word : (word &<< shift) | (UInt64(base[byte &+ 8]) &>> (8 &- shift))
    }

    /// The next `count` bits (0...64).
    @inline(__always)
    mutating func read(bits count: Int) -> UInt64 {
        guard count > 0 else { return 0 }
        let v = peek() &>> UInt64(64 &- count)
        bit &+= count
        return v
    }

    @inline(__always)
    mutating func readBit() -> Bool { read(bits: 1) == 1 }

    /// `SampleBlock.readBucketed`: the prefix and the value of the first three buckets in one look.
    @inline(__always)
    mutating func bucketed(_ b: SampleBlock.Widths) -> UInt64 {
        let (v, n) = Self.bucket(peek(), b)
        if n > 0 {
            bit &+= n
            return v
        }
        bit &+= 4
        return read(bits: b.w4)
    }

    /// Two bucketed integers in a row (a sample's time and value), from one look when both
    /// are in the first three buckets.
    @inline(__always)
    mutating func bucketedPair(_ first: SampleBlock.Widths, _ second: SampleBlock.Widths) -> (UInt64, UInt64) {
        let w = peek()
        let (a, n) = Self.bucket(w, first)
        guard n > 0 else { return (bucketed(first), bucketed(second)) }
        // (At most 4 + w3 bits went: the rest of the look holds the next prefix and w3 bits.)
        let (b, m) = Self.bucket(w &<< UInt64(n), second)
        guard m > 0 else {
            bit &+= n
            return (a, bucketed(second))
        }
        bit &+= n &+ m
        return (a, b)
    }

    /// The bucketed integer at the top of `w` and how many bits it takes; 0 bits for the last
    /// bucket, whose 64-bit value does not fit one look.
    @inline(__always)
    static func bucket(_ w: UInt64, _ b: SampleBlock.Widths) -> (UInt64, Int) {
        if w &>> 63 == 0 { return (0, 1) }
        if w &>> 62 == 0b10 { return ((w &<< 2) &>> UInt64(64 &- b.w1), 2 &+ b.w1) }
        if w &>> 61 == 0b110 { return ((w &<< 3) &>> UInt64(64 &- b.w2), 3 &+ b.w2) }
        if w &>> 60 == 0b1110 { return ((w &<< 4) &>> UInt64(64 &- b.w3), 4 &+ b.w3) }
        return (0, 0)
    }
}

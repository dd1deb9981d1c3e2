/// A run of one series' samples, compressed losslessly (format: `FORMAT.md` beside this file).
///
/// Timestamps are stored as delta-of-delta, one bit for a reading on its interval. Values are
/// stored as integers scaled by a power of ten shared by the block (3.25 -> 325 with exponent 2),
/// as bucketed deltas, when every value of the block comes back bit for bit; otherwise (-0.0,
/// subnormals, values with more than 15 decimals) as XOR of consecutive IEEE bit patterns.
/// Decoding gives back exactly the samples encoded, in their order.
public enum SampleBlock {
    static let version: UInt8 = 1
    /// The largest decimal exponent tried.
    static let maxExponent = 15
    static let powersOfTen: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { r, _ in r * 10 } }

    enum ValueCoding: UInt8 { case decimal = 0, xor = 1 }

    /// Encodes `samples` (any order of times is kept as given; a series' block holds them
    /// oldest first with distinct times).
    public static func encode(_ samples: [Sample]) -> [UInt8] {
        var header: [UInt8] = [version]
        let exponent = decimalExponent(samples)
        header.append((exponent == nil ? ValueCoding.xor : .decimal).rawValue)
        Varint.appendUnsigned(UInt64(samples.count), to: &header)
        guard let first = samples.first else { return header }
        Varint.appendSigned(first.time, to: &header)
        var bits: BitWriter
        if let e = exponent {
            header.append(UInt8(e))
            let p = powersOfTen[e]
            var previous = Int64(nearest(first.value * p))
            Varint.appendSigned(previous, to: &header)
            bits = BitWriter(bytes: header)
            var times = TimeCoder(first: first.time)
            for s in samples.dropFirst() {
                times.encode(s.time, into: &bits)
                let i = Int64(nearest(s.value * p))
                writeBucketed(zigzag(i &- previous), buckets: valueBuckets, into: &bits)
                previous = i
            }
        } else {
            var previous = first.value.bitPattern
            for k in 0..<8 { header.append(UInt8(truncatingIfNeeded: previous >> UInt64(8 * k))) }
            bits = BitWriter(bytes: header)
            var times = TimeCoder(first: first.time)
            var window = XORWindow()
            for s in samples.dropFirst() {
                times.encode(s.time, into: &bits)
                window.encode(s.value.bitPattern ^ previous, into: &bits)
                previous = s.value.bitPattern
            }
        }
        return bits.finish()
    }

    /// The samples of a block `encode` wrote.
    public static func decode(_ bytes: [UInt8]) throws(BlockError) -> [Sample] {
        var at = 0
        guard bytes.count >= 2, bytes[0] == version else { throw BlockError("not a version-\(version) sample block") }
        guard let coding = ValueCoding(rawValue: bytes[1]) else { throw BlockError("unknown value coding \(bytes[1])") }
        at = 2
        let count = try Varint.readUnsigned(bytes, at: &at)
        guard count > 0 else { return [] }
        // Every sample after the first takes at least two bits (its time and its value).
        guard count <= UInt64(bytes.count) * 4 + 1 else { throw BlockError("count \(count) larger than the block can hold") }
        let n = Int(count)
        let t0 = try Varint.readSigned(bytes, at: &at)
        var p = 1.0
        var i: Int64 = 0
        var v: UInt64 = 0
        switch coding {
        case .decimal:
            guard at < bytes.count, Int(bytes[at]) <= maxExponent else { throw BlockError("bad decimal exponent") }
            p = powersOfTen[Int(bytes[at])]
            at += 1
            i = try Varint.readSigned(bytes, at: &at)
        case .xor:
            guard at + 8 <= bytes.count else { throw BlockError("truncated first value") }
            for k in 0..<8 { v |= UInt64(bytes[at + k]) << UInt64(8 * k) }
            at += 8
        }
        // The bit stream, padded so the loop reads 64 bits at a time without bounds checks.
        var padded = bytes
        padded.append(contentsOf: repeatElement(0, count: BitCursor.padding))
        var truncated = false
        let out = padded.withUnsafeBufferPointer { buffer in
            [Sample](unsafeUninitializedCapacity: n) { samples, initialized in
                var bits = BitCursor(buffer.baseAddress!, bit: at * 8, end: bytes.count * 8)
                var times = TimeCoder(first: t0)
                switch coding {
                case .decimal:
                    samples[0] = Sample(time: t0, value: Double(i) / p)
                    for k in 1..<n {
                        let (dt, dv) = bits.bucketedPair(timeBuckets, valueBuckets)
                        let t = times.next(dt)
                        i = i &+ unzigzag(dv)
                        guard !bits.isPastEnd else { truncated = true; break }
                        samples[k] = Sample(time: t, value: Double(i) / p)
                        initialized = k
                    }
                case .xor:
                    samples[0] = Sample(time: t0, value: Double(bitPattern: v))
                    var window = XORWindow()
                    for k in 1..<n {
                        let t = times.decode(from: &bits)
                        guard let x = window.decode(from: &bits), !bits.isPastEnd else { truncated = true; break }
                        v ^= x
                        samples[k] = Sample(time: t, value: Double(bitPattern: v))
                        initialized = k
                    }
                }
                initialized += 1
            }
        }
        guard !truncated else { throw BlockError("truncated bit stream") }
        return out
    }

    /// The smallest exponent e (0...15) at which every value is an integer i with |i| < 2^53
    /// and i / 10^e gives the value back bit for bit; nil when there is none.
    static func decimalExponent(_ samples: [Sample]) -> Int? {
        decimalExponent(values: samples.lazy.map(\.value))
    }

    /// `decimalExponent` of plain values.
    static func decimalExponent(values: some Collection<Double>) -> Int? {
        exponents: for e in 0...maxExponent {
            let p = powersOfTen[e]
            for v in values {
                let scaled = nearest(v * p)
                guard abs(scaled) < 9_007_199_254_740_992, (Double(Int64(scaled)) / p).bitPattern == v.bitPattern else {
                    continue exponents
                }
            }
            return e
        }
        return nil
    }

    /// The integer nearest `x`, as `x.rounded()` gives it wherever the decimal check can pass
    /// (the two differ only at exactly half, where no k-place decimal reads back): below 2^51
    /// by adding and taking away 1.5 x 2^52 (two additions, where `rounded()` calls libm's
    /// `round`: a tenth of the encoder's time).
    @inlinable @inline(__always)
    public static func nearest(_ x: Double) -> Double {
        guard abs(x) < 0x1p51 else { return x.rounded() }
        return (x + 0x1.8p52) - 0x1.8p52
    }

    // MARK: Bucketed integers

    /// Prefix-coded widths: bucket k is k one-bits then a zero (the last bucket has no zero),
    /// then the value in that many bits; bucket 0 is the value 0 alone. Four widths in fields,
    /// not an array: the decoder's inner loop reads them without bounds checks or retains.
    struct Widths {
        let w1: Int, w2: Int, w3: Int, w4: Int
    }
    static let timeBuckets = Widths(w1: 7, w2: 12, w3: 20, w4: 64)
    static let valueBuckets = Widths(w1: 4, w2: 8, w3: 16, w4: 64)

    @inline(__always)
    static func writeBucketed(_ u: UInt64, buckets b: Widths, into bits: inout BitWriter) {
        // The prefix and the value in one write (w1...w3 leave room for the prefix).
        if u == 0 {
            bits.write(0, bits: 1)                 // 0
        } else if u < 1 << UInt64(b.w1) {
            bits.write(0b10 << UInt64(b.w1) | u, bits: 2 + b.w1)
        } else if u < 1 << UInt64(b.w2) {
            bits.write(0b110 << UInt64(b.w2) | u, bits: 3 + b.w2)
        } else if u < 1 << UInt64(b.w3) {
            bits.write(0b1110 << UInt64(b.w3) | u, bits: 4 + b.w3)
        } else {
            bits.write(0b1111, bits: 4)
            bits.write(u, bits: b.w4)
        }
    }

    @inline(__always)
    static func readBucketed(_ b: Widths, from bits: inout BitReader) throws(BlockError) -> UInt64 {
        guard try bits.readBit() else { return 0 }
        guard try bits.readBit() else { return try bits.read(bits: b.w1) }
        guard try bits.readBit() else { return try bits.read(bits: b.w2) }
        guard try bits.readBit() else { return try bits.read(bits: b.w3) }
        return try bits.read(bits: b.w4)
    }

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    /// Delta-of-delta timestamps.
    struct TimeCoder {
        var previous: EpochMillis
        var delta: Int64 = 0

        init(first: EpochMillis) { previous = first }

        @inline(__always)
        mutating func encode(_ t: EpochMillis, into bits: inout BitWriter) {
            let d = t &- previous
            writeBucketed(zigzag(d &- delta), buckets: timeBuckets, into: &bits)
            delta = d
            previous = t
        }

        @inline(__always)
        mutating func decode(from bits: inout BitReader) throws(BlockError) -> EpochMillis {
            delta = delta &+ unzigzag(try readBucketed(timeBuckets, from: &bits))
            previous = previous &+ delta
            return previous
        }

        @inline(__always)
        mutating func decode(from bits: inout BitCursor) -> EpochMillis { next(bits.bucketed(timeBuckets)) }

        /// The time after a delta-of-delta read as its bucketed integer.
        @inline(__always)
        mutating func next(_ u: UInt64) -> EpochMillis {
            delta = delta &+ unzigzag(u)
            previous = previous &+ delta
            return previous
        }
    }

    /// Gorilla's XOR of consecutive values: `0` for the same value; `10` and the meaningful
    /// bits when they fit the previous window; `11`, 6 bits of leading zeros, 6 bits of
    /// (length - 1), and the meaningful bits otherwise.
    struct XORWindow {
        var leading = -1
        var trailing = 0

        @inline(__always)
        mutating func encode(_ x: UInt64, into bits: inout BitWriter) {
            guard x != 0 else { bits.write(bit: false); return }
            bits.write(bit: true)
            let lz = min(x.leadingZeroBitCount, 63)
            let tz = x.trailingZeroBitCount
            if leading >= 0, lz >= leading, tz >= trailing {
                bits.write(bit: false)
                bits.write(x >> UInt64(trailing), bits: 64 - leading - trailing)
            } else {
                bits.write(bit: true)
                leading = lz
                trailing = tz
                let length = 64 - lz - tz
                bits.write(UInt64(lz), bits: 6)
                bits.write(UInt64(length - 1), bits: 6)
                bits.write(x >> UInt64(tz), bits: length)
            }
        }

        @inline(__always)
        mutating func decode(from bits: inout BitReader) throws(BlockError) -> UInt64 {
            guard try bits.readBit() else { return 0 }
            if try bits.readBit() {
                leading = Int(try bits.read(bits: 6))
                let length = Int(try bits.read(bits: 6)) + 1
                guard leading + length <= 64 else { throw BlockError("bad XOR window") }
                trailing = 64 - leading - length
            } else if leading < 0 {
                throw BlockError("XOR window used before it was set")
            }
            return try bits.read(bits: 64 - leading - trailing) << UInt64(trailing)
        }

        /// The same from a `BitCursor`; nil for a window that is not valid (out of range, or
        /// used before it was set).
        @inline(__always)
        mutating func decode(from bits: inout BitCursor) -> UInt64? {
            guard bits.readBit() else { return 0 }
            if bits.readBit() {
                leading = Int(bits.read(bits: 6))
                let length = Int(bits.read(bits: 6)) + 1
                guard leading + length <= 64 else { return nil }
                trailing = 64 - leading - length
            } else if leading < 0 {
                return nil
            }
            return bits.read(bits: 64 - leading - trailing) << UInt64(trailing)
        }
    }
}

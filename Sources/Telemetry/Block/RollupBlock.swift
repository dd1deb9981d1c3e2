/// A run of one series' rollup buckets of one tier, in start order, compressed (format:
/// `FORMAT.md` beside this file, "Rollup block").
///
/// Bucket starts are delta-of-delta (a bit a bucket on the tier's grid); count and the first
/// and last reading's offsets in the bucket are deltas from the bucket before; sum, minimum,
/// maximum, first and last are value columns, each decimal-scaled deltas when every value of
/// the column comes back bit for bit, XOR otherwise. Everything comes back exactly, with one
/// exception: a sum within floating-point rounding of a decimal at the exponent of the other
/// value columns is stored as that decimal (the sum of readings of two decimals is a
/// two-decimal number; its float noise would otherwise cost the column its compression).
public enum RollupBlock {
    static let version: UInt8 = 1

    /// The value columns, in the order they are written.
    enum Column: Int, CaseIterable { case sum, min, max, first, last }

    enum Coding: UInt8 {
        /// Every value round-trips at the exponent.
        case decimal = 0
        /// Sums only: every value is within rounding of a decimal at the exponent, stored as it.
        case snapped = 1
        case xor = 2
    }

    /// Encodes `buckets` (starts increasing, none empty).
    public static func encode(_ buckets: [(start: EpochMillis, bucket: Bucket)]) -> [UInt8] {
        var header: [UInt8] = [version]
        Varint.appendUnsigned(UInt64(buckets.count), to: &header)
        guard let first = buckets.first else { return header }
        Varint.appendSigned(first.start, to: &header)
        Varint.appendUnsigned(UInt64(bitPattern: first.bucket.count), to: &header)
        Varint.appendSigned(first.bucket.firstTime &- first.start, to: &header)
        Varint.appendSigned(first.bucket.lastTime &- first.start, to: &header)
        var columns = chooseCodings(buckets)
        for k in Column.allCases.indices { columns[k].writeHeader(value(first.bucket, Column.allCases[k]), to: &header) }
        var bits = BitWriter(bytes: header)
        var times = SampleBlock.TimeCoder(first: first.start)
        var count = first.bucket.count
        var firstOffset = first.bucket.firstTime &- first.start, lastOffset = first.bucket.lastTime &- first.start
        for (start, b) in buckets.dropFirst() {
            times.encode(start, into: &bits)
            SampleBlock.writeBucketed(SampleBlock.zigzag(b.count &- count), buckets: SampleBlock.valueBuckets, into: &bits)
            count = b.count
            let f = b.firstTime &- start, l = b.lastTime &- start
            SampleBlock.writeBucketed(SampleBlock.zigzag(f &- firstOffset), buckets: SampleBlock.timeBuckets, into: &bits)
            SampleBlock.writeBucketed(SampleBlock.zigzag(l &- lastOffset), buckets: SampleBlock.timeBuckets, into: &bits)
            firstOffset = f
            lastOffset = l
            for k in Column.allCases.indices { columns[k].encode(value(b, Column.allCases[k]), into: &bits) }
        }
        return bits.finish()
    }

    /// The buckets of a block `encode` wrote.
    public static func decode(_ bytes: [UInt8]) throws(BlockError) -> [(start: EpochMillis, bucket: Bucket)] {
        guard bytes.count >= 2, bytes[0] == version else { throw BlockError("not a version-\(version) rollup block") }
        var at = 1
        let n = try Varint.readUnsigned(bytes, at: &at)
        guard n > 0 else { return [] }
        // Every bucket after the first takes at least nine bits.
        guard n <= UInt64(bytes.count) + 1 else { throw BlockError("count \(n) larger than the block can hold") }
        var start = try Varint.readSigned(bytes, at: &at)
        var count = Int64(bitPattern: try Varint.readUnsigned(bytes, at: &at))
        var firstOffset = try Varint.readSigned(bytes, at: &at), lastOffset = try Varint.readSigned(bytes, at: &at)
        var columns: [ValueColumn] = []
        var values: [Double] = []
        for _ in Column.allCases {
            var c = ValueColumn()
            values.append(try c.readHeader(bytes, at: &at))
            columns.append(c)
        }
        var out: [(start: EpochMillis, bucket: Bucket)] = []
        out.reserveCapacity(Int(n))
        func bucket() -> Bucket {
            Bucket(count: count, sum: values[0], min: values[1], max: values[2], firstTime: start &+ firstOffset,
                   first: values[3], lastTime: start &+ lastOffset, last: values[4])
        }
        out.append((start, bucket()))
        var bits = BitReader(bytes, offset: at)
        var times = SampleBlock.TimeCoder(first: start)
        for _ in 1..<n {
            start = try times.decode(from: &bits)
            count = count &+ SampleBlock.unzigzag(try SampleBlock.readBucketed(SampleBlock.valueBuckets, from: &bits))
            firstOffset = firstOffset &+ SampleBlock.unzigzag(try SampleBlock.readBucketed(SampleBlock.timeBuckets, from: &bits))
            lastOffset = lastOffset &+ SampleBlock.unzigzag(try SampleBlock.readBucketed(SampleBlock.timeBuckets, from: &bits))
            for k in columns.indices { values[k] = try columns[k].decode(from: &bits) }
            out.append((start, bucket()))
        }
        return out
    }

    @inline(__always)
    static func value(_ b: Bucket, _ c: Column) -> Double {
        switch c {
        case .sum: b.sum
        case .min: b.min
        case .max: b.max
        case .first: b.first
        case .last: b.last
        }
    }

    /// Each column's coding: decimal at the smallest exponent where all its values round-trip;
    /// for sums that do not, snapped at the other columns' largest exponent when every sum is
    /// within rounding of it; XOR otherwise.
    static func chooseCodings(_ buckets: [(start: EpochMillis, bucket: Bucket)]) -> [ValueColumn] {
        var columns: [ValueColumn] = []
        var largest: Int?
        for c in Column.allCases {
            let e = SampleBlock.decimalExponent(values: buckets.lazy.map { value($0.bucket, c) })
            columns.append(ValueColumn(coding: e == nil ? .xor : .decimal, exponent: e ?? 0))
            if c != .sum, let e { largest = max(largest ?? e, e) }
        }
        let sum = Column.sum.rawValue
        if columns[sum].coding == .xor, let e = largest, buckets.allSatisfy({ snaps($0.bucket, exponent: e) }) {
            columns[sum] = ValueColumn(coding: .snapped, exponent: e)
        }
        return columns
    }

    /// Whether `b`'s sum is within the rounding of adding its readings of a decimal at
    /// exponent `e`: at most `count` additions, each off by half an ulp of a partial sum no
    /// larger than `count` times the largest magnitude. Only while that bound is below a
    /// thousandth of the decimal step: snapping removes noise, never a digit.
    static func snaps(_ b: Bucket, exponent e: Int) -> Bool {
        guard b.count > 0, b.count < 1 << 32 else { return false }
        let p = SampleBlock.powersOfTen[e]
        let scaled = SampleBlock.nearest(b.sum * p)
        guard abs(scaled) < 9_007_199_254_740_992 else { return false }
        let n = Double(b.count)
        let bound = n * n * Swift.max(abs(b.min), abs(b.max)) * Double.ulpOfOne + b.sum.ulp
        guard bound.isFinite, bound < 0.5e-3 / p else { return false }
        return abs(Double(Int64(scaled)) / p - b.sum) <= bound
    }

    /// One value column's coder: decimal-scaled integer deltas, or XOR of the bits.
    struct ValueColumn {
        var coding: Coding = .decimal
        var exponent = 0
        var previous: Int64 = 0
        var previousBits: UInt64 = 0
        var window = SampleBlock.XORWindow()

        init(coding: Coding = .decimal, exponent: Int = 0) {
            self.coding = coding
            self.exponent = exponent
        }

        @inline(__always)
        private func scaled(_ v: Double) -> Int64 { Int64(SampleBlock.nearest(v * SampleBlock.powersOfTen[exponent])) }

        mutating func writeHeader(_ v: Double, to header: inout [UInt8]) {
            header.append(coding.rawValue)
            if coding == .xor {
                previousBits = v.bitPattern
                for k in 0..<8 { header.append(UInt8(truncatingIfNeeded: previousBits >> UInt64(8 * k))) }
            } else {
                header.append(UInt8(exponent))
                previous = scaled(v)
                Varint.appendSigned(previous, to: &header)
            }
        }

        mutating func readHeader(_ bytes: [UInt8], at: inout Int) throws(BlockError) -> Double {
            guard at < bytes.count, let c = Coding(rawValue: bytes[at]) else { throw BlockError("unknown value coding") }
            coding = c
            at += 1
            if c == .xor {
                guard at + 8 <= bytes.count else { throw BlockError("truncated first value") }
                previousBits = 0
                for k in 0..<8 { previousBits |= UInt64(bytes[at + k]) << UInt64(8 * k) }
                at += 8
                return Double(bitPattern: previousBits)
            }
            guard at < bytes.count, Int(bytes[at]) <= SampleBlock.maxExponent else { throw BlockError("bad decimal exponent") }
            exponent = Int(bytes[at])
            at += 1
            previous = try Varint.readSigned(bytes, at: &at)
            return Double(previous) / SampleBlock.powersOfTen[exponent]
        }

        @inline(__always)
        mutating func encode(_ v: Double, into bits: inout BitWriter) {
            if coding == .xor {
                window.encode(v.bitPattern ^ previousBits, into: &bits)
                previousBits = v.bitPattern
            } else {
                let i = scaled(v)
                SampleBlock.writeBucketed(SampleBlock.zigzag(i &- previous), buckets: SampleBlock.valueBuckets, into: &bits)
                previous = i
            }
        }

        @inline(__always)
        mutating func decode(from bits: inout BitReader) throws(BlockError) -> Double {
            if coding == .xor {
                previousBits ^= try window.decode(from: &bits)
                return Double(bitPattern: previousBits)
            }
            previous = previous &+ SampleBlock.unzigzag(try SampleBlock.readBucketed(SampleBlock.valueBuckets, from: &bits))
            return Double(previous) / SampleBlock.powersOfTen[exponent]
        }
    }
}

/// The `readings` blob of a `rollup_journal` row written by a correction
/// (`TelemetryStore.commitCorrections`): which series were replaced from which time, and the
/// whole new value of every rollup bucket the replacement touched. It carries no readings (the
/// corrected samples are in the sample blocks in the same transaction); the journal's other
/// readers see an empty row (`JournalPack.forEach`). Format (Storage/SCHEMA.md, "Corrections"):
///
///     1 byte 0x03, varint series count, then per series:
///       varint series id, signed varint `from`, varint bucket count, then per bucket:
///         1 byte tier (0-3), signed varint start, varint reading count; if above 0:
///         Float64 sum, min, max (little-endian), signed varint first time, Float64 first,
///         signed varint last time, Float64 last
///
/// A bucket with 0 readings is one the replacement emptied: its row or sealed bucket goes.
public enum CorrectionPack {
    static let version: UInt8 = 3

    /// One corrected series: its stored samples from `from` on were replaced, and `buckets`
    /// are the new values of the buckets that changed (empty: gone).
    public struct Entry: Sendable, Equatable {
        public var series: SeriesID
        public var from: EpochMillis
        public var buckets: [(key: BucketKey, bucket: Bucket)]

        public init(series: SeriesID, from: EpochMillis, buckets: [(key: BucketKey, bucket: Bucket)]) {
            self.series = series
            self.from = from
            self.buckets = buckets
        }

        public static func == (a: Entry, b: Entry) -> Bool {
            a.series == b.series && a.from == b.from && a.buckets.count == b.buckets.count
                && zip(a.buckets, b.buckets).allSatisfy { $0.key == $1.key && $0.bucket == $1.bucket }
        }
    }

    /// Whether a journal row's bytes are a correction pack.
    static func isCorrection(_ bytes: UnsafeRawBufferPointer) -> Bool { bytes.first == version }

    static func encode(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = [version]
        Varint.appendUnsigned(UInt64(entries.count), to: &out)
        func double(_ v: Double) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        for e in entries {
            Varint.appendUnsigned(UInt64(UInt32(bitPattern: e.series.rawValue)), to: &out)
            Varint.appendSigned(e.from, to: &out)
            Varint.appendUnsigned(UInt64(e.buckets.count), to: &out)
            for (key, b) in e.buckets {
                out.append(UInt8(key.tier.rawValue))
                Varint.appendSigned(key.start, to: &out)
                Varint.appendUnsigned(UInt64(max(0, b.count)), to: &out)
                guard b.count > 0 else { continue }
                double(b.sum)
                double(b.min)
                double(b.max)
                Varint.appendSigned(b.firstTime, to: &out)
                double(b.first)
                Varint.appendSigned(b.lastTime, to: &out)
                double(b.last)
            }
        }
        return out
    }

    /// The entries of a correction pack. A damaged pack is an error.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [Entry] {
        let all = [UInt8](bytes)
        guard all.first == version else { throw BlockError("correction pack of version \(all.first ?? 0), not \(version)") }
        var at = 1
        func double() throws -> Double {
            guard at + 8 <= all.count else { throw BlockError("correction pack: truncated at byte \(at)") }
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(all[at + k]) << (8 * UInt64(k)) }
            at += 8
            return Double(bitPattern: bits)
        }
        let count = try Varint.readUnsigned(all, at: &at)
        var out: [Entry] = []
        for _ in 0..<count {
            let series = try Varint.readUnsigned(all, at: &at)
            guard series <= UInt64(UInt32.max) else { throw BlockError("correction pack: bad series \(series)") }
            let id = SeriesID(Int32(bitPattern: UInt32(series)))
            let from = try Varint.readSigned(all, at: &at)
            let n = try Varint.readUnsigned(all, at: &at)
            guard n <= UInt64(all.count) else { throw BlockError("correction pack: bad bucket count \(n)") }
            var buckets: [(key: BucketKey, bucket: Bucket)] = []
            buckets.reserveCapacity(Int(n))
            for _ in 0..<n {
                guard at < all.count, let tier = Tier(rawValue: Int(all[at])) else {
                    throw BlockError("correction pack: bad tier at byte \(at)")
                }
                at += 1
                let start = try Varint.readSigned(all, at: &at)
                let readings = try Varint.readUnsigned(all, at: &at)
                var b = Bucket.empty
                if readings > 0 {
                    guard readings <= UInt64(Int64.max) else { throw BlockError("correction pack: bad reading count") }
                    b.count = Int64(readings)
                    b.sum = try double()
                    b.min = try double()
                    b.max = try double()
                    b.firstTime = try Varint.readSigned(all, at: &at)
                    b.first = try double()
                    b.lastTime = try Varint.readSigned(all, at: &at)
                    b.last = try double()
                }
                buckets.append((BucketKey(tier: tier, series: id, start: start), b))
            }
            out.append(Entry(series: id, from: from, buckets: buckets))
        }
        guard at == all.count else { throw BlockError("correction pack: \(all.count - at) bytes left over") }
        return out
    }
}

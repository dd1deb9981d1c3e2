/// The `readings` blob of a `rollup_journal` row: one commit's new readings, packed (format in
/// Storage/SCHEMA.md, "The journal pack"). One row per commit instead of one per reading.
///
///     20 bytes per reading, little-endian: Int32 series id, Int64 time (ms), Float64 value
public enum JournalPack {
    public static let stride = 20

    /// Appends `readings` to `bytes` (which the caller reuses between commits).
    public static func append(_ readings: [BoundReading], to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + readings.count * stride)
        for r in readings {
            withUnsafeBytes(of: r.series.rawValue.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: r.time.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: r.value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    /// Calls `body` with each reading of a pack; a trailing partial record is ignored.
    public static func forEach(in bytes: UnsafeRawBufferPointer, _ body: (BoundReading) throws -> Void) rethrows {
        var at = 0
        while at + stride <= bytes.count {
            let series = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int32.self))
            let time = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 4, as: Int64.self))
            let bits = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 12, as: UInt64.self))
            try body(BoundReading(series: SeriesID(series), time: time, value: Double(bitPattern: bits)))
            at += stride
        }
    }
}

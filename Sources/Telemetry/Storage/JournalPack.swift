/// The `readings` blob of a `rollup_journal` row: one commit's new readings, packed (format in
/// Storage/SCHEMA.md, "The journal pack"). One row per commit instead of one per reading.
///
///     version 2: 1 byte 0x02, then per series (by id): varint series id, varint length,
///                a sample block (Block/FORMAT.md) of its readings in time order
///     version 1 (before migration v8): 20 bytes a reading, little-endian: Int32 series id,
///                Int64 time (ms), Float64 value
public enum JournalPack {
    static let version: UInt8 = 2

    /// Appends a pack of `readings` (distinct (series, time) keys, any order) to `bytes`
    /// (which the caller reuses between commits).
    public static func append(_ readings: [BoundReading], to bytes: inout [UInt8]) {
        bytes.append(version)
        var keyOrder = KeyOrder()
        var order: [Int] = []
        keyOrder.indices(of: readings, into: &order)
        var run: [Sample] = []
        var i = 0
        while i < order.count {
            let series = readings[order[i]].series
            run.removeAll(keepingCapacity: true)
            while i < order.count, readings[order[i]].series == series {
                run.append(Sample(time: readings[order[i]].time, value: readings[order[i]].value))
                i += 1
            }
            let block = SampleBlock.encode(run)
            Varint.appendUnsigned(UInt64(UInt32(bitPattern: series.rawValue)), to: &bytes)
            Varint.appendUnsigned(UInt64(block.count), to: &bytes)
            bytes += block
        }
    }

    /// Calls `body` with each reading of a pack, series by series, each series' readings in
    /// time order. A damaged pack is an error (what precedes the damage has been given). A
    /// correction's row (`CorrectionPack`) holds no readings: nothing is given.
    public static func forEach(in bytes: UnsafeRawBufferPointer, _ body: (BoundReading) throws -> Void) throws {
        try forEachEntry(in: bytes) { id, entry, block in
            for s in try SampleBlock.decode(Array(block)) {
                try body(BoundReading(series: id, time: s.time, value: s.value))
            }
        }
    }

    /// Calls `body` with each series of a pack, its whole entry's bytes (id, length and block,
    /// as stored: copied verbatim, they make a pack of their own after a version byte) and its
    /// block's bytes, decoding nothing. Errors and corrections as `forEach`.
    static func forEachEntry(in bytes: UnsafeRawBufferPointer,
                             _ body: (SeriesID, ArraySlice<UInt8>, ArraySlice<UInt8>) throws -> Void) throws {
        guard let first = bytes.first, first != CorrectionPack.version else { return }
        guard first == version else { throw BlockError("journal pack of version \(first), not \(version)") }
        let all = [UInt8](bytes)
        var at = 1
        while at < all.count {
            let start = at
            let series = try Varint.readUnsigned(all, at: &at)
            let length = try Varint.readUnsigned(all, at: &at)
            guard series <= UInt64(UInt32.max), length <= UInt64(all.count - at) else {
                throw BlockError("journal pack: bad series \(series) or length \(length) at byte \(at)")
            }
            let end = at + Int(length)
            try body(SeriesID(Int32(bitPattern: UInt32(series))), all[start..<end], all[at..<end])
            at = end
        }
    }

    // MARK: Version 1 (migrations v5 and v8 only)

    static let strideV1 = 20

    /// Appends `readings` packed as version 1 (migration v5 writes it; v8 converts it).
    static func appendV1(_ readings: [BoundReading], to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + readings.count * strideV1)
        for r in readings {
            withUnsafeBytes(of: r.series.rawValue.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: r.time.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: r.value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    /// Each reading of a version-1 pack; a trailing partial record is ignored.
    static func forEachV1(in bytes: UnsafeRawBufferPointer, _ body: (BoundReading) throws -> Void) rethrows {
        var at = 0
        while at + strideV1 <= bytes.count {
            let series = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int32.self))
            let time = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 4, as: Int64.self))
            let bits = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 12, as: UInt64.self))
            try body(BoundReading(series: SeriesID(series), time: time, value: Double(bitPattern: bits)))
            at += strideV1
        }
    }
}

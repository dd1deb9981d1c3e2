/// A reading whose series is an index into a table of names built beside it
/// (`LineProtocolNames.names`): what a backfill's decoder hands on, with no String to copy,
/// validate or hash per reading.
public struct IndexedReading: Sendable, Equatable {
    public var name: Int32
    public var time: EpochMillis
    public var value: Double

    @inlinable
    public init(name: Int32, time: EpochMillis, value: Double) {
        self.name = name
        self.time = time
        self.value = value
    }
}

/// Line protocol for a backfill, each distinct series parsed once. The first line with a
/// given measurement and tags and field key goes through `LineProtocolDecoder` (every check,
/// every error); later lines of the plain shape `measurement[,tag=v...] key=decimal[,...]
/// timestamp` (no escapes, no quotes, single spaces, decimals of at most 15 digits, a digits-only
/// timestamp) are matched by their bytes against those seen and only their values and time
/// are read. The answer is the decoder's, reading for reading and error for error: a series'
/// name depends only on those bytes (and the topic, fixed per table), and a line whose
/// bytes were refused is never remembered.
public struct LineProtocolNames: Sendable {
    /// The names met so far; a reading's `name` indexes it.
    public private(set) var names: [SeriesName] = []
    private var indexOf: [SeriesName: Int32] = [:]
    private let decoder = LineProtocolDecoder()
    /// The topic (and pattern sensor) the remembered names were made with: a line without
    /// `sensor` or `id` tags is named after it.
    private var topic: (String, String?)?
    private var scratch: [Reading] = []
    private var fields: [(key: Range<Int>, value: Double)] = []

    /// The remembered keys: (series part, field key) to the name's index.
    private var keys = BytePairTable()
    /// Most keys remembered (about 100 MB); lines of further series take the decoder's path.
    static let maxEntries = 1 << 20

    public init() {}

    /// The index of `name`, added when new.
    public mutating func index(of name: SeriesName) -> Int32 {
        if let i = indexOf[name] { return i }
        let i = Int32(names.count)
        names.append(name)
        indexOf[name] = i
        return i
    }

    /// Decodes one line (no newline in it) into `out`, as `PayloadDecoder` decodes a line of
    /// line protocol (a UTF-8 byte-order mark before it skipped).
    public mutating func decode(line: UnsafeRawBufferPointer, context: DecodeContext,
                                into out: inout [IndexedReading]) throws(DecodeError) {
        var line = line
        if line.count >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF { line = UnsafeRawBufferPointer(rebasing: line[3...]) }
        if topic?.0 != context.topic || topic?.1 != context.patternSensor {
            forgetKeys()
            topic = (context.topic, context.patternSensor)
        }
        guard let (seriesEnd, time) = plainShape(line, precision: context.precision) else {
            try decodeSlowly(line, context: context, remember: nil, into: &out)
            return
        }
        let seriesHash = BytePairTable.hash(line.bytes(0, seriesEnd), seed: 0x9E37_79B9_7F4A_7C15)
        let mark = out.count
        for f in fields {
            let key = line.bytes(f.key.lowerBound, f.key.upperBound)
            guard let name = keys.find(line.bytes(0, seriesEnd), key, hash: BytePairTable.hash(key, seed: seriesHash)) else {
                out.removeSubrange(mark...)
                try decodeSlowly(line, context: context, remember: (seriesEnd, seriesHash), into: &out)
                return
            }
            out.append(IndexedReading(name: name, time: time, value: f.value))
        }
        do { try context.check(time) } catch {
            out.removeSubrange(mark...)
            throw error
        }
    }

    /// The decoder's path; when the line has the plain shape (`remember`), its keys are
    /// remembered with the names the decoder gave.
    private mutating func decodeSlowly(_ line: UnsafeRawBufferPointer, context: DecodeContext,
                                       remember: (seriesEnd: Int, seriesHash: UInt64)?,
                                       into out: inout [IndexedReading]) throws(DecodeError) {
        scratch.removeAll(keepingCapacity: true)
        try decoder.decode(line, context: context, into: &scratch)
        // Every field of a plain line is a number, so reading k is field k.
        let remembering = remember != nil && scratch.count == fields.count && keys.count + fields.count <= Self.maxEntries
        for (k, r) in scratch.enumerated() {
            let name = index(of: r.series)
            if remembering, let remember {
                let key = line.bytes(fields[k].key.lowerBound, fields[k].key.upperBound)
                keys.insert(line.bytes(0, remember.seriesEnd), key, hash: BytePairTable.hash(key, seed: remember.seriesHash), value: name)
            }
            out.append(IndexedReading(name: name, time: r.time, value: r.value))
        }
    }

    /// The series part's end and the time when `line` has the plain shape (its fields in
    /// `fields`); nil otherwise.
    private mutating func plainShape(_ b: UnsafeRawBufferPointer, precision: TimePrecision) -> (Int, EpochMillis)? {
        let n = b.count
        guard n > 0, b[0] != 0x23 else { return nil }   // a comment
        var i = 0
        while i < n {
            let c = b[i]
            if c == 0x20 { break }
            if c <= 0x20 || c == 0x5C || c == 0x22 || c == 0x7F { return nil }   // control, backslash, quote
            i += 1
        }
        let seriesEnd = i
        guard seriesEnd > 0, seriesEnd < n else { return nil }
        fields.removeAll(keepingCapacity: true)
        i += 1
        while true {
            let keyStart = i
            while i < n && b[i] != 0x3D {
                let c = b[i]
                if c <= 0x20 || c == 0x2C || c == 0x5C || c == 0x22 || c == 0x7F { return nil }
                i += 1
            }
            guard i > keyStart, i < n else { return nil }
            let keyEnd = i
            i += 1
            let valueStart = i
            while i < n && b[i] != 0x2C && b[i] != 0x20 { i += 1 }
            guard let v = LineProtocolDecoder.plainDecimal(UnsafeRawBufferPointer(rebasing: b[valueStart..<i])) else { return nil }
            fields.append((keyStart..<keyEnd, v))
            guard fields.count <= 64 else { return nil }
            if i < n && b[i] == 0x2C { i += 1; continue }
            break
        }
        guard i < n, b[i] == 0x20 else { return nil }
        i += 1
        guard i < n else { return nil }
        var raw: Int64 = 0
        while i < n {
            let c = b[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (times10, o1) = raw.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(c - 0x30))
            guard !o1, !o2 else { return nil }
            raw = sum
            i += 1
        }
        return LineProtocolDecoder.millis(raw, precision).map { (seriesEnd, $0) }
    }

    private mutating func forgetKeys() { keys.removeAll() }
}

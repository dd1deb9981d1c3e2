/// SenML packs of the plain shape, each distinct name resolved once: the ingest loop's path
/// before `SenMLDecoder`, which builds a JSON tree, a dictionary per record and a String per
/// label. A pack is plain when it is a JSON array of objects whose labels are only
/// `bn bt bu n u v t`, every record with a numeric `v`; strings are printable ASCII without
/// escapes, numbers JSON's. Its readings are then the decoder's, in order: the names must be
/// allowed and resolve to valid series, the times fall in the accepted window, no series is
/// given two units, nor two readings at one time (the cases where the decoder splits, merges
/// or refuses). A name made of a base name and a name with a separator in them does not
/// depend on the topic, so it is found by those bytes once met. Anything else returns false
/// with `out` untouched, and the decoder gives the answer, or the error.
public struct SenMLNames: Sendable {
    /// The names met so far (forgotten all at once past `maxNames`); a reading's index names
    /// one of these.
    public private(set) var names: [SeriesName] = []
    /// Raised each time the names are forgotten: an index kept from before names another
    /// series now.
    public private(set) var generation = 0
    private var indexOf: [SeriesName: Int32] = [:]
    /// (base name, name) bytes to the name's index, for names that do not depend on the topic.
    private var keys = BytePairTable()
    /// Per name: the pack it was last met in, and its unit there (a range of that payload;
    /// `-1..<-1` for none).
    private var seenIn: [Int] = []
    private var unitIn: [Range<Int>] = []
    private var pack = 0
    /// The pack's readings by name and time, for the check of a repeated name.
    private var times: [(name: Int32, time: EpochMillis)] = []
    /// Most names remembered; past it, all are forgotten and met again.
    static let maxNames = 1 << 18

    public init() {}

    /// Appends the pack's readings to `out`, as `SenMLDecoder` would, and returns true; or
    /// returns false, `out` as it was, when the pack is not plain (then decode it with the
    /// decoder). A UTF-8 byte-order mark before the pack is skipped.
    public mutating func decode(_ payload: UnsafeRawBufferPointer, context: DecodeContext, into out: inout [Reading]) -> Bool {
        var indexed: [IndexedReading] = []
        guard decode(payload, context: context, into: &indexed) else { return false }
        out += indexed.map { Reading(series: names[Int($0.name)], time: $0.time, value: $0.value) }
        return true
    }

    /// The same, each reading naming its series by index into `names`.
    public mutating func decode(_ payload: UnsafeRawBufferPointer, context: DecodeContext, into out: inout [IndexedReading]) -> Bool {
        var payload = payload
        if payload.count >= 3 && payload[0] == 0xEF && payload[1] == 0xBB && payload[2] == 0xBF { payload = payload.bytes(3, payload.count) }
        if names.count >= Self.maxNames { forget() }
        let mark = out.count
        if decodePlain(payload, context: context, into: &out) { return true }
        out.removeSubrange(mark...)
        return false
    }

    private mutating func decodePlain(_ b: UnsafeRawBufferPointer, context: DecodeContext, into out: inout [IndexedReading]) -> Bool {
        pack += 1
        times.removeAll(keepingCapacity: true)
        var s = PlainJSON(b)
        guard s.take(UInt8(ascii: "[")) else { return false }
        var base = Base(b.bytes(0, 0))
        var bt = 0.0
        var bu: Range<Int>?
        var repeated = false
        let mark = out.count
        repeat {
            guard s.take(UInt8(ascii: "{")) else { return false }
            var seen: UInt8 = 0
            var n: Range<Int>?, u: Range<Int>?, bn: Range<Int>?
            var v: Double?, t: Double?
            repeat {
                guard let key = s.string(), s.take(UInt8(ascii: ":")) else { return false }
                let label = Label(b, key)
                guard label != .unknown, seen & label.rawValue == 0 else { return false }
                seen |= label.rawValue
                switch label {
                case .bn: bn = s.string(); guard bn != nil else { return false }
                case .bu: bu = s.string(); guard bu != nil else { return false }
                case .n: n = s.string(); guard n != nil else { return false }
                case .u: u = s.string(); guard u != nil else { return false }
                case .bt: guard let x = s.number() else { return false }; bt = x
                case .v: v = s.number(); guard v != nil else { return false }
                case .t: t = s.number(); guard t != nil else { return false }
                case .unknown: return false
                }
            } while s.take(UInt8(ascii: ","))
            guard s.take(UInt8(ascii: "}")), let v else { return false }
            if let bn, !base.bytes.elementsEqual(b.bytes(bn.lowerBound, bn.upperBound)) {
                base = Base(b.bytes(bn.lowerBound, bn.upperBound))
            }
            let name = n.map { b.bytes($0.lowerBound, $0.upperBound) } ?? b.bytes(0, 0)
            // bn + n: allowed characters, starting alphanumeric (the decoder's name check).
            guard base.allowed, Self.allowed(name), SenMLDecoder.alnum(base.bytes.first ?? name.first) else { return false }
            guard let time = try? SenMLDecoder.time(bt + (t ?? 0), now: context.now, record: 0) else { return false }
            do { try context.check(time) } catch { return false }
            guard let index = index(base: &base, name: name, context: context) else { return false }
            let unit = u ?? bu ?? -1..<(-1)
            let k = Int(index)
            if seenIn[k] != pack {
                seenIn[k] = pack
                unitIn[k] = unit
            } else {
                repeated = true
                guard Self.same(b, unitIn[k], unit) else { return false }
            }
            times.append((index, time))
            out.append(IndexedReading(name: index, time: time, value: 0.0 + v))   // bv (0) + v, as the decoder adds
            guard out.count - mark <= context.maxReadings else { return false }
        } while s.take(UInt8(ascii: ","))
        guard s.take(UInt8(ascii: "]")), s.atEnd else { return false }
        if repeated {
            times.sort { ($0.name, $0.time) < ($1.name, $1.time) }
            for k in times.indices.dropFirst() where times[k - 1] == times[k] { return false }
        }
        return true
    }

    /// The index of the series named `base + name`, resolved when first met; nil when the
    /// decoder would refuse the name.
    private mutating func index(base: inout Base, name: UnsafeRawBufferPointer, context: DecodeContext) -> Int32? {
        let fixed = base.separated || name.contains(where: Self.isSeparator)
        let hash = fixed ? BytePairTable.hash(name, seed: base.hash) : 0
        if fixed, let k = keys.find(base.bytes, name, hash: hash) { return k }
        let text = base.text()
        guard let series = try? SenMLDecoder.seriesName(base: text.whole, split: text.split, name: String(decoding: name, as: UTF8.self),
                                                         context: context) else { return nil }
        let k: Int32
        if let known = indexOf[series] {
            k = known
        } else {
            k = Int32(names.count)
            names.append(series)
            indexOf[series] = k
            seenIn.append(0)
            unitIn.append(-1..<(-1))
        }
        if fixed { keys.insert(base.bytes, name, hash: hash, value: k) }
        return k
    }

    private mutating func forget() {
        generation += 1
        names.removeAll()
        indexOf.removeAll()
        keys.removeAll()
        seenIn.removeAll()
        unitIn.removeAll()
    }

    private static func isSeparator(_ c: UInt8) -> Bool { c == UInt8(ascii: ":") || c == UInt8(ascii: "/") }

    private static func allowed(_ b: UnsafeRawBufferPointer) -> Bool {
        b.allSatisfy { SenMLDecoder.alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
            || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "_") }
    }

    private static func same(_ b: UnsafeRawBufferPointer, _ x: Range<Int>, _ y: Range<Int>) -> Bool {
        if x.lowerBound < 0 || y.lowerBound < 0 { return x.lowerBound < 0 && y.lowerBound < 0 }
        return b.bytes(x.lowerBound, x.upperBound).elementsEqual(b.bytes(y.lowerBound, y.upperBound))
    }

    /// The pack's base name: its bytes, what the name checks need of it, and its text (made
    /// only when a name is resolved).
    private struct Base {
        let bytes: UnsafeRawBufferPointer
        let allowed: Bool
        let separated: Bool
        let hash: UInt64
        private var cached: (whole: String, split: (sensor: String, rest: String)?)?

        init(_ bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            allowed = SenMLNames.allowed(bytes)
            separated = bytes.contains(where: SenMLNames.isSeparator)
            hash = BytePairTable.hash(bytes, seed: 0x5EA1_5E41_0B5E_A1ED)
        }

        mutating func text() -> (whole: String, split: (sensor: String, rest: String)?) {
            if let cached { return cached }
            let whole = String(decoding: bytes, as: UTF8.self)
            let made = (whole, SenMLDecoder.split(whole))
            cached = made
            return made
        }
    }

    /// The labels of a plain pack, each a bit (a repeated label is refused, as JSON's
    /// duplicate key is).
    private enum Label: UInt8 {
        case unknown = 0, bn = 1, bt = 2, bu = 4, n = 8, u = 16, v = 32, t = 64

        init(_ b: UnsafeRawBufferPointer, _ key: Range<Int>) {
            let c0 = b[key.lowerBound]
            if key.count == 1 {
                switch c0 {
                case UInt8(ascii: "n"): self = .n
                case UInt8(ascii: "u"): self = .u
                case UInt8(ascii: "v"): self = .v
                case UInt8(ascii: "t"): self = .t
                default: self = .unknown
                }
            } else if key.count == 2 && c0 == UInt8(ascii: "b") {
                switch b[key.lowerBound + 1] {
                case UInt8(ascii: "n"): self = .bn
                case UInt8(ascii: "t"): self = .bt
                case UInt8(ascii: "u"): self = .bu
                default: self = .unknown
                }
            } else {
                self = .unknown
            }
        }
    }
}

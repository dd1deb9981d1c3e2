/// Decodes SenML JSON packs (RFC 8428): base fields `bn bt bu bv bs bver` apply to their record
/// and every later one until replaced; name = bn + n; value = bv + v (a record with `bv` and
/// no value field of its own resolves to `bv`, section 4.6); time = bt + t, and every time
/// below 2^28 is relative to now (seconds; negative = past, section 4.5.3).
///
/// The sensor is the name up to its last `:` or `/`, the metric the rest (no separator: the
/// sensor is the topic's last segment). Only numeric values (`v`, or `bv` resolved) become
/// readings; `vs`, `vb`, `vd`, sums (`s`) are accepted and ignored. A record of base fields
/// only (no name, time, unit or value: section 5.1.7's first) sets them for the records after
/// it. Units tell measurements apart: a name given with two or more units in one pack (the
/// RFC's multi-measurement examples) becomes one series per unit, its metric followed by
/// `.` and the unit (`%` as `pct`, other characters outside `A-Z a-z 0-9 _ -` as `_`). Two
/// different values for one series and time are refused (`name_collision`), never one of
/// them dropped; a pack with no numeric value is refused as `no_readings`, as the other
/// formats refuse it.
///
/// The RFC's MUST rules reject the whole pack: exactly one value field (or none beside a sum
/// or a base value), no unknown label ending in `_`, no `bver` newer than 10 and one version
/// per pack (section 4.4), name characters `A-Z a-z 0-9 - : . / _` starting alphanumeric.
public struct SenMLDecoder: Sendable {
    /// The SenML version this decoder implements (RFC 8428).
    public static let version = 10.0
    public init() {}

    public func decode(_ payload: UnsafeRawBufferPointer, context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        try decode(root: try JSONScanner.parse(payload), context: context, into: &out)
    }

    func decode(root: JSONValue, context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        guard case .array(let records) = root else { throw .init("bad_senml", "a SenML pack is a JSON array of records") }
        guard !records.isEmpty else { throw .init("bad_senml", "empty SenML pack") }
        let mark = out.count
        var base = BaseName(""), bt = 0.0, bv = 0.0
        var bu: String?
        var version: Double?
        // Per resolved name: its units in this pack, and the readings' units (to split a
        // name measured in several units into one series each, once the pack is read).
        var unitsOfName: [String: [String]] = [:]
        var unitOfReading: [(name: String, unit: String?)] = []
        do throws(DecodeError) {
            for (i, item) in records.enumerated() {
                guard case .object(let r) = item else { throw DecodeError("bad_senml", "record \(i) is not an object") }
                // One pass over the record's fields (a lookup per known label hashed a dozen
                // strings per record). Faults are reported in the RFC's order of checks below,
                // whatever order the fields came in.
                var fields = Fields()
                for (key, value) in r { fields.take(key, value, record: i) }
                try fields.throwFault(upTo: "bver")
                if let ver = fields.bver, ver > Self.version {
                    throw DecodeError("bad_senml", "record \(i): bver \(ver) is newer than the supported version \(Int(Self.version))")
                }
                // One version per pack: the first record's (10 when it gives none).
                let recordVersion = fields.bver ?? version ?? Self.version
                if let version, recordVersion != version {
                    throw DecodeError("bad_senml", "record \(i): bver \(recordVersion) differs from the pack's \(version) (one version per pack)")
                }
                version = recordVersion
                try fields.throwFault(upTo: "vb")
                // No value field: a sum, a base value (the record resolves to it), or a record
                // of base fields only; anything else names a measurement without its value.
                let baseOnly = fields.valueFields == 0 && fields.s == nil && fields.bv == nil && !fields.measures
                if fields.valueFields > 1 || (fields.valueFields == 0 && fields.s == nil && fields.bv == nil && fields.measures) {
                    throw DecodeError("bad_senml", "record \(i): needs exactly one of v, vs, vb, vd (or a sum s, or a base value bv), has \(fields.valueFields)")
                }
                try fields.throwFault(upTo: "t")
                if let b = fields.bn, b != base.text { base = BaseName(b) }
                if let b = fields.bt { bt = b }
                if let b = fields.bv { bv = b }
                if let b = fields.bu { bu = b }
                if baseOnly { continue }
                let v = fields.v ?? (fields.valueFields == 0 && fields.s == nil ? 0 : nil)   // bv alone: bv + 0
                let n = fields.n ?? ""
                // The name is bn + n; its checks and split reuse what was found for bn.
                if !(base.allowed && Self.allowed(n) && Self.alnum((base.text.isEmpty ? n : base.text).utf8.first)) {
                    try Self.checkName(base.text + n, record: i)
                }
                let time = try Self.time(bt + (fields.t ?? 0), now: context.now, record: i)
                try context.check(time)
                guard let v else { continue }
                let value = bv + v
                guard value.isFinite else { throw DecodeError.badValue("record \(i): value is not finite") }
                let series: SeriesName
                do {
                    series = try Self.seriesName(base: base.text, split: base.split, name: n, context: context)
                } catch {
                    throw DecodeError.badName("record \(i): name '\(SeriesName.clip(base.text + n))': \(error.message)")
                }
                out.append(Reading(series: series, time: time, value: value))
                let unit = fields.u ?? bu
                unitOfReading.append((series.description, unit))
                if unitsOfName[series.description]?.contains(unit ?? "") != true { unitsOfName[series.description, default: []].append(unit ?? "") }
                if out.count - mark > context.maxReadings {
                    throw DecodeError.tooLarge("more than \(context.maxReadings) readings in one message")
                }
            }
            if out.count == mark { throw DecodeError.noReadings("no numeric value (v, or a base value bv) in the pack") }
            try Self.separateUnits(&out, from: mark, units: unitOfReading, unitsOfName: unitsOfName)
        } catch {
            out.removeSubrange(mark...)
            throw error
        }
    }

    /// A record's time from `bt + t` (seconds): below 2^28 (negative too) relative to `now`,
    /// else epoch seconds.
    static func time(_ raw: Double, now: EpochMillis, record i: Int) throws(DecodeError) -> EpochMillis {
        guard raw.isFinite else { throw DecodeError.badTime("record \(i): time is not finite") }
        if raw < 268_435_456 {
            guard raw > -Double(Int64.max / 2_000) else { throw DecodeError.badTime("record \(i): time \(raw) is out of range") }
            return now + EpochMillis((raw * 1000).rounded(.down))
        }
        guard let t = TimestampParser.epoch(raw), raw < TimestampParser.millisecondThreshold else {
            throw DecodeError.badTime("record \(i): time \(raw) is not usable epoch seconds")
        }
        return t
    }

    /// A name measured in several units within the pack becomes one series per unit; then no
    /// series may hold two different values at one time (identical repeats are one reading).
    static func separateUnits(_ out: inout [Reading], from mark: Int, units: [(name: String, unit: String?)],
                              unitsOfName: [String: [String]]) throws(DecodeError) {
        if unitsOfName.values.contains(where: { $0.count > 1 }) {
            for k in units.indices where unitsOfName[units[k].name]!.count > 1 {
                let r = out[mark + k]
                let metric = r.series.metric + "." + unitSlug(units[k].unit ?? "")
                do {
                    out[mark + k] = Reading(series: try SeriesName(sensor: r.series.sensor, metric: metric), time: r.time, value: r.value)
                } catch {
                    throw DecodeError.badName("name '\(SeriesName.clip(r.series.description))' with unit '\(units[k].unit ?? "")': \(error.message)")
                }
            }
        }
        // Every reading a name of its own (and so a series of its own): nothing can collide.
        if unitsOfName.count == units.count { return }
        var seen: [SeriesTime: Double] = [:]
        var keep: [Bool] = []
        for r in out[mark...] {
            let key = SeriesTime(series: r.series, time: r.time)
            if let other = seen[key] {
                guard other == r.value || (other.isNaN && r.value.isNaN) else {
                    throw DecodeError("name_collision", "'\(SeriesName.clip(r.series.description))' has two values (\(other), \(r.value)) at one time: give the records distinct names or units")
                }
                keep.append(false)
            } else {
                seen[key] = r.value
                keep.append(true)
            }
        }
        if keep.contains(false) {
            let tail = zip(out[mark...], keep).filter(\.1).map(\.0)
            out.replaceSubrange(mark..., with: tail)
        }
    }

    private struct SeriesTime: Hashable {
        let series: SeriesName
        let time: EpochMillis
    }

    /// A unit as a metric suffix: `%` as `pct`, characters outside `A-Z a-z 0-9 _ -` as `_`
    /// (`%RH` -> `pctRH`, `m/s` -> `m_s`, none -> `none`).
    static func unitSlug(_ unit: String) -> String {
        guard !unit.isEmpty else { return "none" }
        var out = ""
        for c in unit.unicodeScalars {
            if c == "%" { out += "pct" }
            else if c.isASCII, alnum(UInt8(c.value)) || c == "_" || c == "-" { out.unicodeScalars.append(c) }
            else { out += "_" }
        }
        return out
    }

    /// The labels of one record, and its first fault in `rank` order.
    private struct Fields {
        var bn: String?, n: String?, u: String?, bu: String?
        var bver: Double?, bt: Double?, bv: Double?, v: Double?, s: Double?, t: Double?
        var valueFields = 0
        /// The record names a measurement (a name, time, unit or update time of its own).
        var measures = false
        private var fault: (rank: Int, key: String, error: DecodeError)?

        /// Known labels in the order the decoder checks them; an unknown label ending in `_`
        /// (rank 0) comes first, and of several, the least by name.
        static let rank: [String: Int] = Dictionary(uniqueKeysWithValues: [
            "bver", "bn", "bt", "bv", "bs", "bu", "u", "v", "s", "ut", "vs", "vd", "vb", "n", "t",
        ].enumerated().map { ($1, $0 + 1) })

        mutating func take(_ key: String, _ value: JSONValue, record i: Int) {
            func number() -> Double? {
                if case .number(let x) = value { return x }
                fail(key, DecodeError("bad_senml", "record \(i): \"\(key)\" must be a number"))
                return nil
            }
            func string() -> String? {
                if case .string(let x) = value { return x }
                fail(key, DecodeError("bad_senml", "record \(i): \"\(key)\" must be a string"))
                return nil
            }
            switch key {
            case "bn": bn = string()
            case "n": n = string(); measures = true
            case "bver": bver = number()
            case "bt": bt = number()
            case "bv": bv = number()
            case "v": v = number(); valueFields += 1
            case "s": s = number()
            case "t": t = number(); measures = true
            case "bs": _ = number()
            case "ut": _ = number(); measures = true
            case "bu": bu = string()
            case "u": u = string(); measures = true
            case "vs", "vd": _ = string(); valueFields += 1
            case "vb":
                valueFields += 1
                if case .bool = value {} else { fail(key, DecodeError("bad_senml", "record \(i): \"vb\" must be true or false")) }
            default:
                if key.hasSuffix("_") {
                    fail(key, DecodeError("bad_senml", "record \(i): unknown label \"\(key)\" ends in '_' (must understand)"))
                }
            }
        }

        /// Throws the first fault if it ranks at or before `label`.
        func throwFault(upTo label: String) throws(DecodeError) {
            if let f = fault, f.rank <= Self.rank[label]! { throw f.error }
        }

        private mutating func fail(_ key: String, _ error: DecodeError) {
            let r = Self.rank[key] ?? 0
            if let f = fault, (f.rank, f.key) <= (r, key) { return }
            fault = (r, key, error)
        }
    }

    /// The base name `bn`, examined once for all the records it applies to: whether its
    /// characters are allowed, and its split at its last `:` or `/` (the sensor, and the
    /// start of each record's metric).
    private struct BaseName {
        let text: String
        let allowed: Bool
        let split: (sensor: String, rest: String)?

        init(_ text: String) {
            self.text = text
            allowed = SenMLDecoder.allowed(text)
            split = SenMLDecoder.split(text)
        }
    }

    /// A base name cut at its last `:` or `/`: the sensor, and the start of each record's metric.
    static func split(_ base: String) -> (sensor: String, rest: String)? {
        lastSeparator(base).map { cut in (String(base[..<cut]), String(base[base.utf8.index(after: cut)...])) }
    }

    /// The series of name `base + n`: the sensor is the name up to its last `:` or `/`, the
    /// metric the rest; with neither, the topic's sensor (`split`: `base` cut, as `split(_:)`).
    static func seriesName(base: String, split: (sensor: String, rest: String)?, name n: String,
                           context: DecodeContext) throws(SeriesNameError) -> SeriesName {
        if let cut = lastSeparator(n) {
            return try SeriesName(sensor: base + n[..<cut], metric: String(n[n.utf8.index(after: cut)...]))
        }
        if let split { return try SeriesName(sensor: split.sensor, metric: split.rest.isEmpty ? n : split.rest + n) }
        return try SeriesName(sensor: String(context.topicSensor), metric: base + n)
    }

    static func alnum(_ c: UInt8?) -> Bool {
        guard let c else { return false }
        return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    /// Only `A-Z a-z 0-9 - : . / _`.
    static func allowed(_ s: String) -> Bool {
        s.utf8.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
            || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "_") }
    }

    static func lastSeparator(_ s: String) -> String.Index? {
        s.utf8.lastIndex { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") }
    }

    /// RFC 8428 section 4.5.1: name characters and first character.
    static func checkName(_ name: String, record i: Int) throws(DecodeError) {
        guard let first = name.utf8.first else { throw .badName("record \(i): empty name (bn + n)") }
        guard alnum(first) else { throw .badName("record \(i): name '\(SeriesName.clip(name))' must start with a letter or digit") }
        guard allowed(name) else {
            throw .badName("record \(i): name '\(SeriesName.clip(name))' has a character outside A-Z a-z 0-9 - : . / _")
        }
    }
}

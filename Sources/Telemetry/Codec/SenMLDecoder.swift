/// Decodes SenML JSON packs (RFC 8428): base fields `bn bt bu bv bs bver` apply to their record
/// and every later one until replaced; name = bn + n; value = bv + v; time = bt + t, and a
/// time below 2^28 is relative to now (seconds; negative = past).
///
/// The sensor is the name up to its last `:` or `/`, the metric the rest (no separator: the
/// sensor is the topic's last segment). Only numeric values (`v`) become readings; `vs`,
/// `vb`, `vd`, sums (`s`) and units are accepted and ignored. The RFC's MUST rules reject
/// the whole pack: exactly one value field (or none beside a sum), no unknown label ending in
/// `_`, no `bver` newer than 10, name characters `A-Z a-z 0-9 - : . / _` starting alphanumeric.
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
        var bn = "", bt = 0.0, bv = 0.0
        do throws(DecodeError) {
            for (i, item) in records.enumerated() {
                guard case .object(let r) = item else { throw DecodeError("bad_senml", "record \(i) is not an object") }
                func number(_ key: String) throws(DecodeError) -> Double? {
                    switch r[key] {
                    case nil: return nil
                    case .number(let x)?: return x
                    case _?: throw DecodeError("bad_senml", "record \(i): \"\(key)\" must be a number")
                    }
                }
                func string(_ key: String) throws(DecodeError) -> String? {
                    switch r[key] {
                    case nil: return nil
                    case .string(let s)?: return s
                    case _?: throw DecodeError("bad_senml", "record \(i): \"\(key)\" must be a string")
                    }
                }
                for key in r.keys where key.hasSuffix("_") {
                    throw DecodeError("bad_senml", "record \(i): unknown label \"\(key)\" ends in '_' (must understand)")
                }
                if let ver = try number("bver"), ver > Self.version {
                    throw DecodeError("bad_senml", "record \(i): bver \(ver) is newer than the supported version \(Int(Self.version))")
                }
                if let b = try string("bn") { bn = b }
                if let b = try number("bt") { bt = b }
                if let b = try number("bv") { bv = b }
                _ = try number("bs")
                _ = try string("bu")
                _ = try string("u")
                let v = try number("v")
                let s = try number("s")
                _ = try number("ut")
                var valueFields = v == nil ? 0 : 1
                if r["vs"] != nil { _ = try string("vs"); valueFields += 1 }
                if r["vd"] != nil { _ = try string("vd"); valueFields += 1 }
                if let vb = r["vb"] {
                    guard case .bool = vb else { throw DecodeError("bad_senml", "record \(i): \"vb\" must be true or false") }
                    valueFields += 1
                }
                if valueFields > 1 || (valueFields == 0 && s == nil) {
                    throw DecodeError("bad_senml", "record \(i): needs exactly one of v, vs, vb, vd (or a sum s), has \(valueFields)")
                }
                let name = bn + (try string("n") ?? "")
                try Self.checkName(name, record: i)
                let rawTime = bt + (try number("t") ?? 0)
                guard rawTime.isFinite else { throw DecodeError.badTime("record \(i): time is not finite") }
                let time: EpochMillis
                if abs(rawTime) < 268_435_456 {   // 2^28: relative to now
                    time = context.now + EpochMillis((rawTime * 1000).rounded(.down))
                } else {
                    guard let t = TimestampParser.epoch(rawTime), rawTime < TimestampParser.millisecondThreshold else {
                        throw DecodeError.badTime("record \(i): time \(rawTime) is not usable epoch seconds")
                    }
                    time = t
                }
                try context.check(time)
                guard let v else { continue }
                let value = bv + v
                guard value.isFinite else { throw DecodeError.badValue("record \(i): value is not finite") }
                let series: SeriesName
                do {
                    if let cut = name.lastIndex(where: { $0 == ":" || $0 == "/" }) {
                        series = try SeriesName(sensor: String(name[..<cut]), metric: String(name[name.index(after: cut)...]))
                    } else {
                        series = try SeriesName(sensor: String(context.topicSensor), metric: name)
                    }
                } catch {
                    throw DecodeError.badName("record \(i): name '\(SeriesName.clip(name))': \(error.message)")
                }
                out.append(Reading(series: series, time: time, value: value))
                if out.count - mark > context.maxReadings {
                    throw DecodeError.tooLarge("more than \(context.maxReadings) readings in one message")
                }
            }
        } catch {
            out.removeSubrange(mark...)
            throw error
        }
    }

    /// RFC 8428 section 4.5.1: name characters and first character.
    static func checkName(_ name: String, record i: Int) throws(DecodeError) {
        guard let first = name.utf8.first else { throw .badName("record \(i): empty name (bn + n)") }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        guard alnum(first) else { throw .badName("record \(i): name '\(SeriesName.clip(name))' must start with a letter or digit") }
        for c in name.utf8 where !(alnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: ":") || c == UInt8(ascii: ".")
            || c == UInt8(ascii: "/") || c == UInt8(ascii: "_")) {
            throw .badName("record \(i): name '\(SeriesName.clip(name))' has a character outside A-Z a-z 0-9 - : . / _")
        }
    }
}

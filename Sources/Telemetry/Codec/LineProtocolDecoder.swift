/// Decodes Influx line protocol: `measurement[,tag=v...] field=v[,field=v...] [timestamp]`.
///
/// Escapes: `\,` and `\ ` in the measurement; `\,` `\=` `\ ` in tag keys, tag values and
/// field keys; `\"` and `\\` in string fields. Field types: float (default), integer `12i`,
/// unsigned `12u`, string `"..."`, boolean `t T true True TRUE f F false False FALSE`. Lines
/// starting with `#` are comments. A string field may hold newlines: a line ends at a newline
/// outside one, as InfluxDB reads it. Numeric fields become readings, booleans 1/0, strings are
/// ignored. Duplicate tag keys, and control characters (NUL included) in the measurement, tag
/// keys, tag values and field keys are refused, as InfluxDB refuses them. The metric is the field key; the sensor is tag `sensor`, else `id`, else the
/// topic's last segment. Timestamps use the subscription's precision (default ns).
/// Any bad line rejects the whole message, with its line and column.
public struct LineProtocolDecoder: Sendable {
    public init() {}

    public func decode(_ payload: UnsafeRawBufferPointer, context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        let b = payload
        let mark = out.count
        var line = 1
        var start = 0
        do throws(DecodeError) {
            while start < b.count {
                let end = Self.lineEnd(b, from: start)
                var stop = end
                if stop > start && b[stop - 1] == 0x0D { stop -= 1 }
                var p = Parser(b: b, i: start, end: stop, lineStart: start, line: line)
                try p.line(context: context, into: &out)
                if out.count - mark > context.maxReadings {
                    throw DecodeError.tooLarge("more than \(context.maxReadings) readings in one message")
                }
                start = end + 1
                line += 1
            }
            if out.count == mark { throw DecodeError.noReadings("no numeric or boolean fields") }
        } catch {
            out.removeSubrange(mark...)
            throw error
        }
    }

    /// Where the line starting at `start` ends: the first newline outside a string field
    /// (a measurement and its tags escape with `\`; a field value's string escapes `\"` and
    /// `\\`), or the end of the payload.
    public static func lineEnd(_ b: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        var inFields = false, inString = false
        while i < b.count {
            let c = b[i]
            if inString {
                if c == 0x5C && i + 1 < b.count && (b[i + 1] == 0x22 || b[i + 1] == 0x5C) { i += 2; continue }
                if c == 0x22 { inString = false }
            } else if c == 0x0A {
                return i
            } else if !inFields {
                if c == 0x5C && i + 1 < b.count && b[i + 1] != 0x0A { i += 2; continue }
                if c == 0x20 { inFields = true }
                else if c == 0x23 && (start..<i).allSatisfy({ b[$0] == 0x20 || b[$0] == 0x09 }) {   // a comment line
                    while i < b.count && b[i] != 0x0A { i += 1 }
                    return i
                }
            } else if c == 0x22 && i > 0 && b[i - 1] == 0x3D {   // a string value starts right after '='
                inString = true
            }
            i += 1
        }
        return i
    }

    /// A timestamp of `precision` in epoch milliseconds (floored); nil when it overflows.
    static func millis(_ raw: Int64, _ precision: TimePrecision) -> EpochMillis? {
        switch precision {
        case .ns: return EpochMillis.floorDiv(raw, 1_000_000)
        case .us: return EpochMillis.floorDiv(raw, 1_000)
        case .ms: return raw
        case .s:
            let (ms, overflow) = raw.multipliedReportingOverflow(by: 1000)
            return overflow ? nil : ms
        }
    }

    /// 10^0 ... 10^22, each exact in a Double.
    static let powersOfTen: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { r, _ in r * 10 } }

    /// A plain decimal (`-?digits[.digits]`, at most 15 significant digits, at most 22
    /// after the point) read straight from the bytes: its digits as an integer, exact in a
    /// Double, divided by an exact power of ten, is the correctly rounded value (Clinger's
    /// fast path), the same Double that parsing the text gives. Nil for anything else (the
    /// text path decides).
    @inline(__always)
    static func plainDecimal(_ t: UnsafeRawBufferPointer) -> Double? {
        var k = 0
        let negative = k < t.count && t[k] == UInt8(ascii: "-")
        if negative { k += 1 }
        var mantissa: Int64 = 0
        var digits = 0, significant = 0, fraction = 0
        var point = false
        while k < t.count {
            let c = t[k]
            if c >= 0x30 && c <= 0x39 {
                if significant > 0 || c != 0x30 { significant += 1 }
                guard significant <= 15 else { return nil }
                mantissa = mantissa * 10 + Int64(c - 0x30)
                digits += 1
                if point { fraction += 1 }
            } else if c == UInt8(ascii: ".") && !point {
                point = true
            } else {
                return nil
            }
            k += 1
        }
        guard digits > 0, fraction <= 22 else { return nil }
        let v = Double(mantissa) / powersOfTen[fraction]
        return negative ? -v : v
    }

    /// A line's tag keys so far, for refusing a duplicate: the first four held inline (no
    /// allocation for the usual few tags), more in an array.
    struct TagKeys {
        private var k0: String?, k1: String?, k2: String?, k3: String?
        private var more: [String] = []

        /// Adds `key`; false when the line already has it.
        mutating func insert(_ key: String) -> Bool {
            if k0 == key || k1 == key || k2 == key || k3 == key || more.contains(key) { return false }
            if k0 == nil { k0 = key } else if k1 == nil { k1 = key } else if k2 == nil { k2 = key }
            else if k3 == nil { k3 = key } else { more.append(key) }
            return true
        }
    }

    private struct Parser {
        let b: UnsafeRawBufferPointer
        var i: Int
        let end: Int
        let lineStart: Int
        let line: Int

        static let space: UInt8 = 0x20, comma: UInt8 = 0x2C, equals: UInt8 = 0x3D, quote: UInt8 = 0x22,
            backslash: UInt8 = 0x5C, hash: UInt8 = 0x23, tab: UInt8 = 0x09

        func fail(_ what: String) -> DecodeError {
            DecodeError("bad_line_protocol", "line \(line), column \(i - lineStart + 1): \(what)")
        }

        mutating func line(context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
            while i < end && (b[i] == Self.space || b[i] == Self.tab) { i += 1 }
            if i == end || b[i] == Self.hash { return }
            let measurement = try token(.measurement)
            if measurement.isEmpty { throw fail("empty measurement") }
            var sensor: String?
            var id: String?
            var tagKeys = TagKeys()
            while i < end && b[i] == Self.comma {
                i += 1
                let keyAt = i
                let key = try token(.key)
                guard !key.isEmpty else { throw fail("empty tag key") }
                if !tagKeys.insert(key) { i = keyAt; throw fail("duplicate tag key '\(key)'") }
                guard i < end && b[i] == Self.equals else { throw fail("expected '=' after tag key '\(key)'") }
                i += 1
                let value = try token(.key)
                guard !value.isEmpty else { throw fail("empty value for tag '\(key)'") }
                if key == "sensor" { sensor = value } else if key == "id" { id = value }
            }
            guard i < end && b[i] == Self.space else { throw fail("expected a space before the fields") }
            while i < end && b[i] == Self.space { i += 1 }
            var fields: [(String, Double?)] = []
            while true {
                let key = try token(.key)
                guard !key.isEmpty else { throw fail("empty field key") }
                guard i < end && b[i] == Self.equals else { throw fail("expected '=' after field key '\(key)'") }
                i += 1
                fields.append((key, try fieldValue()))
                if i < end && b[i] == Self.comma { i += 1; continue }
                break
            }
            var time = context.now
            if i < end {
                guard b[i] == Self.space else { throw fail("expected ',' or a space after a field") }
                while i < end && b[i] == Self.space { i += 1 }
                if i < end { time = try timestamp(context.precision) }
                while i < end && b[i] == Self.space { i += 1 }
                if i < end { throw fail("unexpected text after the timestamp") }
            }
            try context.check(time)
            let sensorID = sensor ?? id ?? String(context.topicSensor)
            for (key, value) in fields {
                guard let value else { continue }
                do {
                    out.append(Reading(series: try SeriesName(sensor: sensorID, metric: key), time: time, value: value))
                } catch {
                    throw DecodeError.badName("line \(line): \(error.message)")
                }
            }
        }

        /// Measurements stop at and escape `,` and space; keys and tag values also `=`.
        enum TokenKind { case measurement, key }

        /// Reads up to an unescaped stop byte, resolving `\x` for escapable `x`.
        mutating func token(_ kind: TokenKind) throws(DecodeError) -> String {
            @inline(__always) func special(_ c: UInt8) -> Bool {
                c == Self.comma || c == Self.space || (kind == .key && c == Self.equals)
            }
            let start = i
            var high: UInt8 = 0
            while i < end, !special(b[i]), b[i] != Self.backslash {
                if b[i] < 0x20 || b[i] == 0x7F { throw fail("control character 0x\(String(b[i], radix: 16)) in a name") }
                high |= b[i]
                i += 1
            }
            let raw = b.bytes(start, i)
            if i == end || b[i] != Self.backslash {
                // ASCII (a sensor's name, a metric) needs no validation.
                if high < 0x80 { return String(decoding: raw, as: UTF8.self) }
                guard let s = String(validating: raw, as: UTF8.self) else { throw fail("not valid UTF-8") }
                return s
            }
            var bytes = Array(raw)
            while i < end {
                let c = b[i]
                if c == Self.backslash && i + 1 < end && special(b[i + 1]) {
                    bytes.append(b[i + 1])
                    i += 2
                    continue
                }
                if special(c) { break }
                if c < 0x20 || c == 0x7F { throw fail("control character 0x\(String(c, radix: 16)) in a name") }
                bytes.append(c)
                i += 1
            }
            guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("not valid UTF-8") }
            return s
        }

        /// A field value: nil for strings (ignored), else the number (booleans as 1/0).
        mutating func fieldValue() throws(DecodeError) -> Double? {
            guard i < end else { throw fail("missing field value") }
            if b[i] == Self.quote {
                i += 1
                while i < end {
                    if b[i] == Self.backslash && i + 1 < end && (b[i + 1] == Self.quote || b[i + 1] == Self.backslash) {
                        i += 2
                        continue
                    }
                    if b[i] == Self.quote { i += 1; return nil }
                    i += 1
                }
                throw fail("unterminated string field")
            }
            let start = i
            while i < end && b[i] != Self.comma && b[i] != Self.space { i += 1 }
            if let v = LineProtocolDecoder.plainDecimal(b.bytes(start, i)) { return v }
            let text = String(decoding: b.bytes(start, i), as: UTF8.self)
            let column = start - lineStart + 1
            switch text {
            case "t", "T", "true", "True", "TRUE": return 1
            case "f", "F", "false", "False", "FALSE": return 0
            default: break
            }
            func bad(_ what: String) -> DecodeError {
                DecodeError("bad_line_protocol", "line \(line), column \(column): \(what) '\(text.prefix(40))'")
            }
            if text.hasSuffix("i") {
                guard let v = Int64(text.dropLast()) else { throw bad("bad integer field") }
                return Double(v)
            }
            if text.hasSuffix("u") {
                guard !text.hasPrefix("-"), let v = UInt64(text.dropLast()) else { throw bad("bad unsigned field") }
                return Double(v)
            }
            guard Self.isFloat(text.utf8), let v = Double(text), v.isFinite else { throw bad("bad float field") }
            return v
        }

        /// `[-+]?(digits[.digits?] | .digits)([eE][-+]?digits)?`: no nan, inf or hex.
        static func isFloat(_ u: String.UTF8View) -> Bool {
            var it = Array(u)[...]
            if let f = it.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { it = it.dropFirst() }
            var digits = 0
            while let c = it.first, c >= 0x30 && c <= 0x39 { digits += 1; it = it.dropFirst() }
            if it.first == UInt8(ascii: ".") {
                it = it.dropFirst()
                while let c = it.first, c >= 0x30 && c <= 0x39 { digits += 1; it = it.dropFirst() }
            }
            guard digits > 0 else { return false }
            if let e = it.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                it = it.dropFirst()
                if let s = it.first, s == UInt8(ascii: "-") || s == UInt8(ascii: "+") { it = it.dropFirst() }
                var exp = 0
                while let c = it.first, c >= 0x30 && c <= 0x39 { exp += 1; it = it.dropFirst() }
                guard exp > 0 else { return false }
            }
            return it.isEmpty
        }

        mutating func timestamp(_ precision: TimePrecision) throws(DecodeError) -> EpochMillis {
            let start = i
            while i < end && b[i] != Self.space { i += 1 }
            // Digits only, read from the bytes (an overflow falls to the text path's error).
            var raw: Int64 = 0
            var plain = i > start
            for k in start..<i where plain {
                let c = b[k]
                guard c >= 0x30 && c <= 0x39 else { plain = false; break }
                let (times10, o1) = raw.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(c - 0x30))
                if o1 || o2 { plain = false } else { raw = sum }
            }
            if !plain {
                let text = String(decoding: b.bytes(start, i), as: UTF8.self)
                guard let parsed = Int64(text) else {
                    i = start
                    throw fail("bad timestamp '\(text.prefix(40))' (an integer in \(precision.rawValue))")
                }
                raw = parsed
            }
            guard let ms = LineProtocolDecoder.millis(raw, precision) else { i = start; throw fail("timestamp out of range") }
            return ms
        }
    }
}

/// The unit of line-protocol timestamps (`precision` of a subscription).
public enum TimePrecision: String, Sendable, CaseIterable {
    case ns, us, ms, s
}

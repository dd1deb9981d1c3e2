/// A strict, single-pass JSON parser over bytes (RFC 8259) that builds a `JSONValue`.
///
/// Written by hand because Foundation's `JSONDecoder` cost ~41 µs and 83 allocations for a
/// small sensor message (BENCHMARKS.md), the slowest step of ingest by far. It also says
/// where a document is wrong (`line 1, column 17: expected ':' after an object key`), limits
/// nesting, and refuses what JSON refuses: NaN, Infinity, leading zeros, control characters
/// in strings, invalid UTF-8, trailing garbage.
struct JSONScanner {
    static let maxDepth = 64

    private let b: UnsafeRawBufferPointer
    private var i = 0

    private init(_ b: UnsafeRawBufferPointer) { self.b = b }

    /// Parses one whole document.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> JSONValue {
        var s = JSONScanner(bytes)
        s.skipSpace()
        let v = try s.value(depth: 0)
        s.skipSpace()
        if s.i != bytes.count { throw s.fail("unexpected text after the JSON value") }
        return v
    }

    private func fail(_ what: String) -> DecodeError {
        var line = 1, column = 1
        for k in 0..<min(i, b.count) {
            if b[k] == 0x0A { line += 1; column = 1 } else if b[k] & 0xC0 != 0x80 { column += 1 }
        }
        return .badJSON("line \(line), column \(column): \(what)")
    }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws(DecodeError) -> JSONValue {
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
            return try object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
            return try array(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try number())
        default:
            throw fail("unexpected character '\(Self.printable(b[i]))'")
        }
    }

    private mutating func object(depth: Int) throws(DecodeError) -> JSONValue {
        i += 1
        var out = [String: JSONValue](minimumCapacity: 8)   // sensor records have a handful of fields: no regrowth
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
        while true {
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a quoted object key") }
            let key = try string()
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
            i += 1
            skipSpace()
            // A repeated key is ambiguous (which value did the sender mean?): refused, not
            // resolved silently by the last one.
            if out.updateValue(try value(depth: depth), forKey: key) != nil {
                throw fail("duplicate object key \"\(key.prefix(64))\"")
            }
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of input in an object") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
            throw fail("expected ',' or '}' in an object")
        }
    }

    private mutating func array(depth: Int) throws(DecodeError) -> JSONValue {
        i += 1
        var out: [JSONValue] = []
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
        while true {
            skipSpace()
            out.append(try value(depth: depth))
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of input in an array") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
            throw fail("expected ',' or ']' in an array")
        }
    }

    private mutating func literal(_ word: StaticString) throws(DecodeError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("unexpected end of input") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw fail("invalid literal") }
        i += n
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, finite.
    private mutating func number() throws(DecodeError) -> Double {
        let start = i
        func digits() -> Int {
            let s = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
            return i - s
        }
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, b[i] >= 0x30 && b[i] <= 0x39 else { throw fail("expected a digit") }
        if b[i] == 0x30 {
            i += 1
            if i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { throw fail("leading zeros are not allowed") }
        } else {
            _ = digits()
        }
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw fail("expected a digit after '.'") }
        }
        if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard digits() > 0 else { throw fail("expected a digit in the exponent") }
        }
        let text = String(decoding: b.bytes(start, i), as: UTF8.self)
        guard let v = Double(text), v.isFinite else {
            i = start
            throw fail("number \(text.prefix(40)) is out of range")
        }
        return v
    }

    private mutating func string() throws(DecodeError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        var bits: UInt8 = 0
        while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { bits |= b[i]; i += 1 }
        if i < b.count && b[i] == UInt8(ascii: "\"") {
            let raw = b.bytes(start, i)
            i += 1
            // ASCII is valid UTF-8: decoding it needs no check (and `String(validating:)` is
            // generic at run time, a tenth of a SenML pack's decoding).
            if bits < 0x80 { return raw.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) } }
            guard let s = String(validating: raw, as: UTF8.self) else {
                i -= 1
                throw fail("invalid UTF-8 in a string")
            }
            return s
        }
        var out = Array(b.bytes(start, i))
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return s
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in a \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate in a \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate in a \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: String(Character(u)).utf8)
            default:
                i -= 1
                throw fail("invalid escape '\\\(Self.printable(e))'")
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(DecodeError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid hex digit in a \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private static func printable(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }
}

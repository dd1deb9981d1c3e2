/// A cursor over JSON that takes only plain tokens: strings of printable ASCII without
/// escapes, and numbers in JSON's grammar. White space is skipped before each token.
struct PlainJSON {
    private let b: UnsafeRawBufferPointer
    private var i = 0

    init(_ b: UnsafeRawBufferPointer) { self.b = b }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return i == b.count
        }
    }

    /// Takes `c` if it comes next.
    mutating func take(_ c: UInt8) -> Bool {
        skipSpace()
        guard i < b.count, b[i] == c else { return false }
        i += 1
        return true
    }

    /// A string's bytes, between its quotes.
    mutating func string() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return start..<(i - 1)
            }
            guard c >= 0x20 && c < 0x7F && c != UInt8(ascii: "\\") else { return nil }
            i += 1
        }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, finite, as `Double` reads its text:
    /// up to 15 significant digits and 22 decimals exactly (both are exact doubles, and one
    /// division rounds correctly), longer ones and exponents through `Double`'s parser.
    mutating func number() -> Double? {
        skipSpace()
        let start = i
        let negative = i < b.count && b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < b.count, isDigit(b[i]) else { return nil }
        var mantissa: Int64 = 0
        var significant = 0, fraction = 0
        if b[i] == 0x30 {
            i += 1
            if i < b.count, isDigit(b[i]) { return nil }   // leading zero
        } else {
            while i < b.count, isDigit(b[i]) {
                significant += 1
                if significant <= 15 { mantissa = mantissa * 10 + Int64(b[i] - 0x30) }
                i += 1
            }
        }
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < b.count, isDigit(b[i]) else { return nil }
            while i < b.count, isDigit(b[i]) {
                if significant > 0 || b[i] != 0x30 { significant += 1 }
                if significant <= 15 { mantissa = mantissa * 10 + Int64(b[i] - 0x30) }
                fraction += 1
                i += 1
            }
        }
        var exponent = false
        if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            exponent = true
            i += 1
            if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < b.count, isDigit(b[i]) else { return nil }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if !exponent && significant <= 15 && fraction <= 22 {
            let v = Double(mantissa) / LineProtocolDecoder.powersOfTen[fraction]
            return negative ? -v : v
        }
        guard let v = Double(String(decoding: b.bytes(start, i), as: UTF8.self)), v.isFinite else { return nil }
        return v
    }

    @inline(__always)
    private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }
}

import Hummingbird
import Telemetry

/// A small append-only JSON writer: numbers come out as the API documents them (times in
/// epoch seconds, values in Swift's shortest round-trip form), with no intermediate tree.
struct JSONText {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init() {}

    /// A writer whose answer will be about `capacity` bytes: room made once, not by doubling.
    init(reservingCapacity capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func object(_ body: (inout JSONText) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func array(_ body: (inout JSONText) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A field whose name is a literal: copied as it is (a literal name needs no escaping;
    /// the API's names are plain ASCII).
    mutating func field(_ name: StaticString, _ value: (inout JSONText) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
        value(&self)
        needsComma = true
    }

    /// A field whose name comes from data (a label, a level, a reason): escaped.
    mutating func field(named name: String, _ value: (inout JSONText) -> Void) {
        separate()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
        value(&self)
        needsComma = true
    }

    mutating func string(_ s: String) { separate(); writeString(s); needsComma = true }
    mutating func int(_ v: Int64) { separate(); writeInt(v); needsComma = true }
    mutating func bool(_ v: Bool) { separate(); raw(v ? "true" : "false"); needsComma = true }
    mutating func null() { separate(); raw("null"); needsComma = true }

    /// A finite double in shortest form; non-finite values become null (JSON has none).
    mutating func double(_ v: Double) {
        separate()
        if !v.isFinite {
            raw("null")
        } else if abs(v) < 1e15, v == SampleBlock.nearest(v) {
            writeInt(Int64(v))
        } else if !writeShortDecimal(v) {
            raw(v.description)
        }
        needsComma = true
    }

    /// Writes `v` as Swift's `description` does when it is a decimal of 1 to 9 places and at
    /// most 15 significant digits (a sensor's reading, a sum of them: nearly every value we
    /// answer), without a String; false for any other value, written nothing.
    ///
    /// Why it is the shortest form: the first `k` for which the nearest double to `m / 10^k`
    /// (m the integer nearest `|v| * 10^k`; the division correctly rounded, as m < 2^53 and
    /// 10^k are exact) is `v` gives the fewest digits. Below 10^15 two k-place decimals are
    /// further apart than a double's spacing there, so no other k-place decimal reads back as
    /// `v` and the choice is the one `description` makes. `m` is exact: `|v| * 10^k` lies
    /// within a quarter of `m` when `m / 10^k` reads back as `v`.
    private mutating func writeShortDecimal(_ v: Double) -> Bool {
        let a = abs(v)
        // Outside this range `description` switches to an exponent.
        guard a >= 1e-3, a < 1e14 else { return false }
        var scale = 1.0
        for k in 1...9 {
            scale *= 10
            let m = SampleBlock.nearest(a * scale)
            guard m < 1e15 else { return false }
            guard m / scale == a else { continue }
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            let whole = UInt64(m) / UInt64(scale)
            var frac = UInt64(m) % UInt64(scale)
            writeInt(Int64(whole))
            // "." and the k digits, written from the end of a buffer and appended at once.
            var digits: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &digits) { d in
                d[0] = UInt8(ascii: ".")
                for i in stride(from: k, to: 0, by: -1) {
                    d[i] = UInt8(ascii: "0") + UInt8(frac % 10)
                    frac /= 10
                }
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[...k]))
            }
            return true
        }
        return false
    }

    /// Epoch milliseconds as epoch seconds (fraction only when needed).
    mutating func seconds(_ ms: EpochMillis) {
        separate()
        if ms < 0 { bytes.append(UInt8(ascii: "-")) }
        let m = ms.magnitude
        writeInt(Int64(m / 1000))
        var frac = Int64(m % 1000)
        if frac != 0 {
            bytes.append(UInt8(ascii: "."))
            var digits = 3
            while frac % 10 == 0 { frac /= 10; digits -= 1 }
            var divisor: Int64 = 1
            for _ in 1..<digits { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(frac / divisor % 10))
                divisor /= 10
            }
        }
        needsComma = true
    }

    /// `double(_:)` as text (for CSV).
    static func number(_ v: Double) -> String {
        var j = JSONText()
        j.double(v)
        return String(decoding: j.bytes, as: UTF8.self)
    }

    /// `seconds(_:)` as text (for CSV).
    static func seconds(_ ms: EpochMillis) -> String {
        var j = JSONText()
        j.seconds(ms)
        return String(decoding: j.bytes, as: UTF8.self)
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// A string, escaped. Swift strings are valid UTF-8, so every byte of a multi-byte
    /// character (0x80 and up) goes through as it is.
    private mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (field names, series names) need no escaping: copied in one go.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: s.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                raw(b < 0x10 ? "\\u000" : "\\u001")
                bytes.append(Array("0123456789abcdef".utf8)[Int(b & 15)])
            default:
                bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// An integer's decimal digits, without an intermediate string: written from the end of
    /// a buffer, two digits a division, and appended at once (a byte at a time, each append
    /// checking room and uniqueness, was a tenth of a rollup answer's time).
    private mutating func writeInt(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { d in
            var i = 24
            while m >= 10 {
                let pair = Int(m % 100)
                m /= 100
                i -= 2
                d[i] = UInt8(ascii: "0") + UInt8(pair / 10)
                d[i + 1] = UInt8(ascii: "0") + UInt8(pair % 10)
            }
            if i == 24 || m > 0 {
                i -= 1
                d[i] = UInt8(ascii: "0") + UInt8(m)
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[i...]))
        }
    }

    func response(status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

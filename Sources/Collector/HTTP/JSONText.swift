import Hummingbird
import Telemetry

/// A small append-only JSON writer: numbers come out as the API documents them (times in
/// epoch seconds, values in Swift's shortest round-trip form), with no intermediate tree.
struct JSONText {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

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

    mutating func field(_ name: String, _ value: (inout JSONText) -> Void) {
        separate()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
        value(&self)
        needsComma = true
    }

    mutating func string(_ s: String) { separate(); writeString(s); needsComma = true }
    mutating func int(_ v: Int64) { separate(); raw(String(v)); needsComma = true }
    mutating func bool(_ v: Bool) { separate(); raw(v ? "true" : "false"); needsComma = true }
    mutating func null() { separate(); raw("null"); needsComma = true }

    /// A finite double in shortest form; non-finite values become null (JSON has none).
    mutating func double(_ v: Double) {
        separate()
        raw(v.isFinite ? Self.number(v) : "null")
        needsComma = true
    }

    /// Epoch milliseconds as epoch seconds (fraction only when needed).
    mutating func seconds(_ ms: EpochMillis) {
        separate()
        raw(Self.seconds(ms))
        needsComma = true
    }

    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func seconds(_ ms: EpochMillis) -> String {
        let s = EpochMillis.floorDiv(ms, 1000)
        let frac = ms - s * 1000
        if frac == 0 { return String(s) }
        var f = String(frac)
        while f.count < 3 { f = "0" + f }
        while f.hasSuffix("0") { f.removeLast() }
        return "\(s).\(f)"
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for u in s.unicodeScalars {
            switch u {
            case "\"": raw("\\\"")
            case "\\": raw("\\\\")
            case "\n": raw("\\n")
            case "\r": raw("\\r")
            case "\t": raw("\\t")
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                raw("\\u" + String(repeating: "0", count: 4 - h.count) + h)
            default:
                bytes.append(contentsOf: String(u).utf8)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    func response(status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

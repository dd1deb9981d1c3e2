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
        number { NumberText.double(v, at: $0) }
        needsComma = true
    }

    /// Epoch milliseconds as epoch seconds (fraction only when needed).
    mutating func seconds(_ ms: EpochMillis) {
        separate()
        number { NumberText.seconds(ms, at: $0) }
        needsComma = true
    }

    /// An object of numbers under literal names (a rollup bucket, a sample), written on the
    /// stack and appended at once: one append a bucket, not one a comma, name and value.
    mutating func row(_ body: (inout Row) -> Void) {
        separate()
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Row.capacity) { space in
            var row = Row(base: space.baseAddress!)
            row.open()
            body(&row)
            row.close()
            if !row.spilled.isEmpty { bytes.append(contentsOf: row.spilled) }
            bytes.append(contentsOf: UnsafeBufferPointer(start: space.baseAddress!, count: row.count))
        }
        needsComma = true
    }

    /// `row`'s writer: `"name":value` pairs, comma-separated.
    struct Row {
        static let capacity = 512
        fileprivate let base: UnsafeMutablePointer<UInt8>
        fileprivate var count = 0
        /// What was written before the space filled up (only a row of many fields does).
        fileprivate var spilled: [UInt8] = []
        private var first = true

        fileprivate init(base: UnsafeMutablePointer<UInt8>) { self.base = base }

        mutating func int(_ name: StaticString, _ v: Int64) {
            key(name)
            count += NumberText.int(v, at: base + count)
        }

        mutating func double(_ name: StaticString, _ v: Double) {
            key(name)
            count += NumberText.double(v, at: base + count)
        }

        mutating func seconds(_ name: StaticString, _ ms: EpochMillis) {
            key(name)
            count += NumberText.seconds(ms, at: base + count)
        }

        fileprivate mutating func open() { base[0] = UInt8(ascii: "{"); count = 1 }
        fileprivate mutating func close() { room(1); base[count] = UInt8(ascii: "}"); count += 1 }

        /// `,"name":` with room after it for a number.
        private mutating func key(_ name: StaticString) {
            precondition(name.utf8CodeUnitCount <= Self.capacity - 4 - NumberText.maxLength, "a field name this long is not ours")
            room(name.utf8CodeUnitCount + 4 + NumberText.maxLength)
            if !first { base[count] = UInt8(ascii: ","); count += 1 }
            first = false
            base[count] = UInt8(ascii: "\"")
            name.withUTF8Buffer { (base + count + 1).update(from: $0.baseAddress!, count: $0.count) }
            count += 1 + name.utf8CodeUnitCount
            base[count] = UInt8(ascii: "\"")
            base[count + 1] = UInt8(ascii: ":")
            count += 2
        }

        /// Moves what is written to `spilled` when fewer than `n` bytes are left.
        private mutating func room(_ n: Int) {
            guard count + n > Self.capacity else { return }
            spilled.append(contentsOf: UnsafeBufferPointer(start: base, count: count))
            count = 0
        }
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

    /// An integer's decimal digits, without an intermediate string.
    private mutating func writeInt(_ v: Int64) { number { NumberText.int(v, at: $0) } }

    /// A number written on the stack and appended at once (a byte at a time, each append
    /// checking room and uniqueness, was a tenth of a rollup answer's time).
    private mutating func number(_ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        var space: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)   // NumberText.maxLength
        withUnsafeMutableBytes(of: &space) { d in
            let p = d.baseAddress!.assumingMemoryBound(to: UInt8.self)
            bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: write(p)))
        }
    }

    func response(status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

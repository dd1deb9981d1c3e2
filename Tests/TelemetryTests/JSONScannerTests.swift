import Foundation
import Testing
@testable import Telemetry

@Suite struct JSONScannerTests {
    func parse(_ s: String) throws(DecodeError) -> JSONValue { try JSONScanner.parse(Array(s.utf8)) }

    /// Random documents (fixed seeds) written as text, parsed back, compared with the original.
    @Test(arguments: [1, 2, 3, 4, 5])
    func randomRoundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<300 {
            let v = Self.random(&rng, depth: 0)
            let text = Self.write(v, &rng)
            #expect(try parse(text) == v, "\(text)")
        }
    }

    @Test func agreesWithFoundationOnNumbers() throws {
        for text in ["0", "-0", "1", "-1.5", "3.141592653589793", "1e10", "1E-7", "2.5e+3", "123456789012345678", "0.1", "1795000000.123"] {
            let ours = try parse(text)
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) as! NSNumber
            #expect(ours == .number(theirs.doubleValue), "\(text)")
        }
    }

    @Test func escapes() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83c\udf32""#) == .string("a\"b\\c/d\u{8}\u{c}\n\r\té🌲"))
        #expect(try parse("\"Lai Châu\"") == .string("Lai Châu"))
    }

    @Test(arguments: [
        ("", "line 1, column 1: unexpected end of input"),
        ("{\"a\" 1}", "line 1, column 6: expected ':' after an object key"),
        ("{\"v\": 1, \"v\": 2}", "line 1, column 16: duplicate object key \"v\""),   // last-wins was silent
        ("{\"a\": 1,}", "line 1, column 9: expected a quoted object key"),
        ("[1 2]", "line 1, column 4: expected ',' or ']' in an array"),
        ("{\"v\": NaN}", "line 1, column 7: unexpected character 'N'"),
        ("{\"v\": Infinity}", "line 1, column 7: unexpected character 'I'"),
        ("[01]", "line 1, column 3: leading zeros are not allowed"),
        ("[1.]", "line 1, column 4: expected a digit after '.'"),
        ("[1e999]", "line 1, column 2: number 1e999 is out of range"),
        ("\"tab\there\"", "line 1, column 5: control character in a string"),
        ("\"\\x\"", "line 1, column 3: invalid escape '\\x'"),
        ("\"\\ud800\"", "line 1, column 8: unpaired surrogate in a \\u escape"),
        ("{\"a\":1} x", "line 1, column 9: unexpected text after the JSON value"),
        ("{\n  \"a\": tru\n}", "line 2, column 8: invalid literal"),
        ("\"open", "line 1, column 6: unterminated string"),
    ])
    func errorsSayWhere(text: String, detail: String) {
        do {
            _ = try parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.reason == "bad_json")
            #expect(error.detail == detail, "\(text)")
        }
    }

    @Test func invalidUTF8() throws {
        var bytes = Array("\"ab".utf8)
        bytes += [0xC3, 0x28, 0x22]
        #expect(throws: DecodeError.self) { _ = try JSONScanner.parse(bytes) }
        // Unescaped non-ASCII goes through validation too, and is kept as it is.
        #expect(try parse(#""Lâm Đồng, Lai Châu""#) == .string("Lâm Đồng, Lai Châu"))
    }

    @Test func nestingIsLimited() throws {
        let deep = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try parse(deep)
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: DecodeError.self) { _ = try parse(tooDeep) }
        let hostile = String(repeating: "[", count: 100_000)
        #expect(throws: DecodeError.self) { _ = try parse(hostile) }
    }

    // MARK: generator

    static func random(_ rng: inout SplitMix64, depth: Int) -> JSONValue {
        switch rng.next(below: depth > 3 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(rng.next(below: 2) == 0)
        case 2: return .number(Double(Int64(rng.next(below: 2_000_000)) - 1_000_000) / Double([1, 4, 1000, 3][Int(rng.next(below: 4))]))
        case 3, 4:
            let alphabet = Array("abc XYZ_-\"\\/\n\té漢🌲")
            return .string(String((0..<Int(rng.next(below: 8))).map { _ in alphabet[Int(rng.next(below: UInt64(alphabet.count)))] }))
        case 5: return .array((0..<Int(rng.next(below: 4))).map { _ in random(&rng, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for k in 0..<Int(rng.next(below: 4)) { o["k\(k)"] = random(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    static func write(_ v: JSONValue, _ rng: inout SplitMix64) -> String {
        let ws = [" ", "", "\n", "\t"][Int(rng.next(below: 4))]
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return "\(d)"
        case .string(let s):
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "/": out += rng.next(below: 2) == 0 ? "/" : "\\/"
                case "é": out += rng.next(below: 2) == 0 ? "é" : "\\u00e9"
                case "🌲": out += rng.next(below: 2) == 0 ? "🌲" : "\\ud83c\\udf32"
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        case .array(let a): return "[" + ws + a.map { write($0, &rng) }.joined(separator: "," + ws) + "]"
        case .object(let o):
            return "{" + o.sorted { $0.key < $1.key }.map { "\"\($0.key)\"" + ws + ":" + write($0.value, &rng) }.joined(separator: ",") + ws + "}"
        }
    }
}

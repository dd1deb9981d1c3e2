import Testing
@testable import Telemetry

/// The ingest loop reads plain SenML packs without the decoder's JSON tree, remembering names
/// by their bytes; whatever the packs, what it takes must be the decoder's answer, reading for
/// reading, and what the decoder refuses it must leave to the decoder.
struct SenMLNamesTests {
    let now: EpochMillis = 1_795_000_000_000

    func context(topic: String = "telemetry/gw-01", maxReadings: Int = 100) -> DecodeContext {
        DecodeContext(topic: topic, now: now, acceptAge: 30 * 86_400_000, maxReadings: maxReadings)
    }

    /// A reading with its value's bits (so that -0.0 and 0.0 differ).
    struct Exact: Equatable, CustomStringConvertible {
        let series: SeriesName, time: EpochMillis, bits: UInt64
        init(_ r: Reading) { series = r.series; time = r.time; bits = r.value.bitPattern }
        var description: String { "\(series)@\(time)=\(Double(bitPattern: bits))" }
    }

    enum Outcome: Equatable { case taken([Exact]), left }

    /// Decodes each pack with one table and with the decoder (the oracle); returns the packs
    /// where the table took something other than the decoder's answer, and how many it took.
    /// `accepted`: how many the decoder takes.
    func differences(_ packs: [(topic: String, bytes: [UInt8])], maxReadings: Int = 100) -> (wrong: [String], taken: Int, accepted: Int) {
        var table = SenMLNames()
        let oracle = PayloadDecoder()
        var wrong: [String] = []
        var taken = 0, accepted = 0
        for pack in packs {
            let ctx = context(topic: pack.topic, maxReadings: maxReadings)
            var out = [Reading(series: try! SeriesName(parsing: "before/x"), time: 1, value: 1)]
            let took = pack.bytes.withUnsafeBytes { table.decode($0, context: ctx, into: &out) }
            let text = String(decoding: pack.bytes, as: UTF8.self)
            var expected: [Reading] = []
            if (try? oracle.decode(pack.bytes, format: .auto, context: ctx, into: &expected)) != nil { accepted += 1 }
            expected = []
            guard took else {
                if out.count != 1 { wrong.append("\(text): left to the decoder with readings appended") }
                continue
            }
            taken += 1
            let oracleAnswer: Result<[Exact], DecodeError> = pack.bytes.withUnsafeBytes { b in
                do throws(DecodeError) {
                    try oracle.decode(b, format: .auto, context: ctx, into: &expected)
                    return .success(expected.map(Exact.init))
                } catch { return .failure(error) }
            }
            let got = Array(out.dropFirst()).map(Exact.init)
            if oracleAnswer != .success(got) { wrong.append("\(text) on \(pack.topic): took \(got), the decoder: \(oracleAnswer)") }
        }
        return (wrong, taken, accepted)
    }

    @Test func plainPacksAreReadFromTheirBytes() {
        let bt = now / 1000 - 600
        let pack = #"[{"n":"lc-fw-0001/temp_c","v":21.5,"bt":\#(bt)},{"n":"lc-fw-0001/rh_pct","v":-0.0,"t":10},"#
            + #"{"n":"lc-rv-0002/level_m","v":1.05,"t":10.5}, {"bn":"urn:dev:ow:10e2:","n":"kwh","u":"kWh","v":7}]"#
        let packs = [(topic: "bench/a", bytes: Array(pack.utf8)), (topic: "bench/b", bytes: Array(pack.utf8))]
        let (wrong, taken, _) = differences(packs)
        #expect(wrong == [])
        #expect(taken == 2)
    }

    /// Random packs of plain and unplain pieces, on two topics (names without a separator are
    /// the topic's sensor's): each name is met both before and after it is remembered.
    @Test func randomAndAdversarialPacksAnswerAsTheDecoder() {
        let sec = now / 1000
        let names = ["lc-fw-0001/temp_c", "lc-fw-0002:rh", "temp_c", "x/y/z", "", "ở", "a b", ":lead", "s:m.x", "s/m:n", "a/", "rh\\u0041",
                     String(repeating: "s", count: 130) + "/m"]
        let bases = ["gw-7/", "urn:dev:ow:10e2:", "dev", "bad bn", "", "gw/x/"]
        let values = ["21.5", "-0", "-0.0", "0", "1e3", "1E-2", "0.1", "123456789012345.6", "1234567890123456", "01", ".5", "5.", "-",
                      "1e400", "\"s\"", "true", "null", "12345678901234567890", "0.0000000000000000000000001", "3.14159265358979",
                      "-12.25", "1.5e+2", "0.30000000000000004"]
        let times = ["-5", "0", "-1e9", "1.5", "\(sec - 100)", "\(sec + 10_000)", "1e20", "\(sec)", "\(sec).25", "-0.0005", "\"1\""]
        let units = ["Cel", "%RH", "", "A"]
        let extras = ["\"bver\":10", "\"bver\":11", "\"bv\":1", "\"s\":2", "\"vs\":\"x\"", "\"x_\":1", "\"ut\":1", "\"foo\":1",
                      "\"v\":2", "\"bs\":1", "\"vb\":true"]
        var rng = SystemRandomNumberGenerator()
        // Half the packs mostly plain (one piece in 50 from anywhere), half anything.
        var odd = 4
        func pick(_ xs: [String], plain: Int) -> String {
            Int.random(in: 0..<odd, using: &rng) > 0 ? xs[Int.random(in: 0..<plain, using: &rng)] : xs.randomElement(using: &rng)!
        }
        var packs: [(topic: String, bytes: [UInt8])] = []
        for p in 0..<20_000 {
            odd = p % 2 == 0 ? 50 : 4
            var records: [String] = []
            for k in 0..<Int.random(in: 1...5, using: &rng) {
                var fields: [String] = []
                if Int.random(in: 0..<4, using: &rng) == 0 { fields.append("\"bn\":\"\(pick(bases, plain: 3))\"") }
                if k == 0 && Int.random(in: 0..<2, using: &rng) == 0 { fields.append("\"bt\":\(sec - 3600)") }
                if Int.random(in: 0..<8, using: &rng) == 0 { fields.append("\"bt\":\(pick(times, plain: 5))") }
                if Int.random(in: 0..<odd * 2, using: &rng) > 0 { fields.append("\"n\":\"\(pick(names, plain: 4))\"") }
                if Int.random(in: 0..<odd * 2, using: &rng) > 0 { fields.append("\"v\":\(pick(values, plain: 8))") }
                if Int.random(in: 0..<2, using: &rng) == 0 { fields.append("\"t\":\(pick(times, plain: 2))") }
                if Int.random(in: 0..<6, using: &rng) == 0 { fields.append("\"u\":\"\(units.randomElement(using: &rng)!)\"") }
                if Int.random(in: 0..<12, using: &rng) == 0 { fields.append("\"bu\":\"\(units.randomElement(using: &rng)!)\"") }
                if Int.random(in: 0..<odd * 3, using: &rng) == 0 { fields.append(extras.randomElement(using: &rng)!) }
                fields.shuffle(using: &rng)
                let space = Int.random(in: 0..<10, using: &rng) == 0 ? " \n" : ""
                records.append("{" + fields.joined(separator: "," + space) + space + "}")
            }
            var text = "[" + records.joined(separator: ",") + "]"
            switch Int.random(in: 0..<odd * 10, using: &rng) {
            case 0: text += "x"
            case 1: text = " \t" + text + "\r\n"
            case 2: text.removeLast()
            case 3: text = "[]"
            case 4: text = "\u{FEFF}" + text
            case 5: text = "[" + text + "]"
            default: break
            }
            packs.append((Int.random(in: 0..<2, using: &rng) == 0 ? "bench/gw-a" : "bench/gw-b", Array(text.utf8)))
        }
        let (wrong, taken, accepted) = differences(packs, maxReadings: 4)
        #expect(wrong.prefix(3) == [])
        // Most packs the decoder accepts are taken, so the comparison means something.
        #expect(taken > accepted * 3 / 4, "taken \(taken), the decoder accepted \(accepted), of \(packs.count)")
    }

    /// A name repeated in a pack: with one unit and distinct times it is the decoder's answer;
    /// two units (the decoder splits the series), or two readings at one time (the decoder
    /// merges or refuses them), are left to the decoder.
    @Test func repeatedNamesAreLeftToTheDecoderWhenItWouldChangeThem() {
        let bt = now / 1000 - 600
        func pack(_ records: String) -> (topic: String, bytes: [UInt8]) { ("bench/gw", Array("[\(records)]".utf8)) }
        let cases: [(pack: (topic: String, bytes: [UInt8]), taken: Bool)] = [
            (pack(#"{"bt":\#(bt),"n":"a/x","u":"V","v":1},{"n":"a/x","u":"V","v":2,"t":1}"#), true),
            (pack(#"{"bt":\#(bt),"n":"a/x","u":"V","v":1},{"n":"a/x","u":"A","v":2,"t":1}"#), false),
            (pack(#"{"bt":\#(bt),"n":"a/x","u":"V","v":1},{"n":"a/x","v":2,"t":1}"#), false),
            (pack(#"{"bt":\#(bt),"n":"a/x","v":1},{"n":"a/x","v":1}"#), false),
            (pack(#"{"bt":\#(bt),"n":"a/x","v":1},{"n":"a/x","v":2}"#), false),
            (pack(#"{"bt":\#(bt),"n":"a:x","v":1},{"n":"a/x","v":2}"#), false),   // one series, two spellings
            (pack(#"{"bt":\#(bt),"bu":"V","n":"a/x","v":1},{"n":"a/x","v":2,"t":1}"#), true),
        ]
        for c in cases {
            var table = SenMLNames()
            var out: [Reading] = []
            let took = c.pack.bytes.withUnsafeBytes { table.decode($0, context: context(), into: &out) }
            #expect(took == c.taken, "\(String(decoding: c.pack.bytes, as: UTF8.self))")
        }
        #expect(differences(cases.map(\.pack)).wrong == [])
    }
}

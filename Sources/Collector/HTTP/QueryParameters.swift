import Hummingbird
import Telemetry

/// Reads and validates API query parameters; every problem is a 400 naming the parameter.
struct QueryParameters {
    let params: Parameters
    let now: EpochMillis

    init(_ request: Request, now: EpochMillis) {
        params = request.uri.queryParameters
        self.now = now
    }

    func string(_ name: String) -> String? { params.get(name) }

    func required(_ name: String) throws -> String {
        guard let v = params.get(name), !v.isEmpty else { throw APIError.badParameter(name, "is required") }
        return v
    }

    func series(_ name: String = "series") throws -> SeriesName {
        let v = try required(name)
        do { return try SeriesName(parsing: v) } catch { throw APIError.badParameter(name, error.message) }
    }

    /// A time: epoch seconds in decimal (fractions allowed) or RFC 3339. Not what else
    /// `Double` reads: `0x10` is not epoch 16, nor `nan` or `inf` a time.
    func time(_ name: String) throws -> EpochMillis? {
        guard let v = params.get(name), !v.isEmpty else { return nil }
        if Self.isDecimal(v), let x = Double(v), x.isFinite, abs(x) < 1e12 { return EpochMillis((x * 1000).rounded(.down)) }
        if let t = TimestampParser.rfc3339(v) { return t }
        throw APIError.badParameter(name, "'\(v.prefix(40))' is neither epoch seconds nor RFC 3339 (e.g. 2026-11-22T13:00:00+07:00)")
    }

    /// `[+-]digits[.digits][e[+-]digits]`.
    static func isDecimal(_ s: String) -> Bool {
        var rest = Substring(s)
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        let mantissa = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard mantissa.contains(where: \.isNumber), mantissa.filter({ $0 == "." }).count <= 1 else { return false }
        rest = rest.dropFirst(mantissa.count)
        guard let e = rest.first else { return true }
        guard e == "e" || e == "E" else { return false }
        rest = rest.dropFirst()
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        return !rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// `from`/`to`, with `to` defaulting to now and `from` to `to - defaultSpan`.
    func range(defaultSpan: EpochMillis) throws -> (from: EpochMillis, to: EpochMillis) {
        let to = try time("to") ?? now
        let from = try time("from") ?? (to - defaultSpan)
        guard from < to else { throw APIError.badParameter("from", "must be before to") }
        return (from, to)
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = params.get(name), !v.isEmpty else { return nil }
        guard let n = Int(v), range.contains(n) else {
            throw APIError.badParameter(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// `fields=avg,max` (a rollup bucket's values to answer, in the API's order); nil: all.
    func bucketFields() throws -> BucketFields? {
        guard let v = params.get("fields") else { return nil }
        var set: BucketFields = []
        for name in v.split(separator: ",", omittingEmptySubsequences: false) {
            guard let f = BucketFields.named[String(name)] else {
                throw APIError.badParameter("fields", "'\(name.prefix(40))' is not one of count, sum, min, max, avg, first, last")
            }
            set.insert(f)
        }
        return set
    }

    /// `format=json` (default) or `format=csv`.
    func format() throws -> OutputFormat {
        guard let v = params.get("format") else { return .json }
        guard let f = OutputFormat(rawValue: v) else { throw APIError.badParameter("format", "must be json or csv") }
        return f
    }

    enum OutputFormat: String { case json, csv }
}

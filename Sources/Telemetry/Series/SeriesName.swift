/// The identity of a series: `<sensor>/<metric>`, e.g. `ft-mt-0001/temp_c`.
///
/// Sensor ids may use `A-Z a-z 0-9 - _ . :`; metric names `A-Z a-z 0-9 - _ .`; both start
/// alphanumeric and are at most 128 characters. Ids are data: they never reach SQL text
/// or file names, but they do reach MQTT topics and logs, so `/`, `+`, `#` and control
/// characters are refused here.
public struct SeriesName: Hashable, Sendable, CustomStringConvertible {
    public let sensor: String
    public let metric: String

    /// The canonical `sensor/metric` text.
    public var description: String { sensor + "/" + metric }

    /// Builds a name after validating both parts; the error says which part is wrong and why.
    public init(sensor: String, metric: String) throws(SeriesNameError) {
        try Self.validate(sensor, allowColon: true, role: "sensor id")
        try Self.validate(metric, allowColon: false, role: "metric name")
        self.sensor = sensor
        self.metric = metric
    }

    /// Parses `sensor/metric` (the last `/` separates them).
    public init(parsing text: String) throws(SeriesNameError) {
        guard let slash = text.lastIndex(of: "/") else {
            throw SeriesNameError(message: "series '\(Self.clip(text))' is not of the form sensor/metric")
        }
        try self.init(sensor: String(text[..<slash]), metric: String(text[text.index(after: slash)...]))
    }

    static let maxLength = 128

    /// Checks a label from a topic (`{unit}`, `{kind}`) by the rules of a metric name:
    /// letters, digits, `-`, `_`, `.`, starting alphanumeric, at most 128 bytes. Labels group
    /// analysts' answers and become CSV cells and JSON keys.
    public static func validateLabel(_ s: String, role: String) throws(SeriesNameError) {
        try validate(s, allowColon: false, role: role)
    }

    private static func validate(_ s: String, allowColon: Bool, role: String) throws(SeriesNameError) {
        let utf8 = s.utf8
        guard let first = utf8.first else { throw SeriesNameError(message: "empty \(role)") }
        guard utf8.count <= maxLength else {
            throw SeriesNameError(message: "\(role) '\(clip(s))' is longer than \(maxLength) bytes")
        }
        guard isAlnum(first) else {
            throw SeriesNameError(message: "\(role) '\(clip(s))' must start with a letter or digit")
        }
        for c in utf8 where !(isAlnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            || c == UInt8(ascii: ".") || (allowColon && c == UInt8(ascii: ":")))
        {
            throw SeriesNameError(message: "\(role) '\(clip(s))' has a character outside A-Z a-z 0-9 - _ .\(allowColon ? " :" : "")")
        }
    }

    @inline(__always)
    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    /// A printable, bounded excerpt of user input for error messages.
    static func clip(_ s: String) -> String {
        let printable = String(String.UnicodeScalarView(s.unicodeScalars.prefix(40).map {
            ($0.value < 0x20 || $0.value == 0x7F) ? "?" : $0
        }))
        return s.unicodeScalars.count > 40 ? printable + "..." : printable
    }
}

/// Why a sensor id or metric name was refused.
public struct SeriesNameError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

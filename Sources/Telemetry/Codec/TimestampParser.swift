/// Reads reading times as payloads give them: epoch seconds, epoch milliseconds, or RFC 3339.
public enum TimestampParser {
    /// Numbers at or above this are taken as milliseconds (1e11 s is the year 5138).
    static let millisecondThreshold = 100_000_000_000.0

    /// Epoch seconds (fractions allowed) or epoch milliseconds, told apart by magnitude.
    public static func epoch(_ x: Double) -> EpochMillis? {
        guard x.isFinite, abs(x) < 1e15 else { return nil }
        let ms = abs(x) >= millisecondThreshold ? x : x * 1000
        return EpochMillis(ms.rounded(.down))
    }

    /// RFC 3339 / ISO 8601 with a zone (`Z` or `+07:00`) and optional fraction of a second.
    public static func rfc3339(_ s: String) -> EpochMillis? {
        // Fast manual path for the common form; falls back to Foundation for the rest.
        let u = Array(s.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= u.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                let c = u[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard u.count >= 20,
              let y = digits(0, 4), u[4] == UInt8(ascii: "-"), let mo = digits(5, 2), u[7] == UInt8(ascii: "-"),
              let d = digits(8, 2), u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t") || u[10] == UInt8(ascii: " "),
              let h = digits(11, 2), u[13] == UInt8(ascii: ":"), let mi = digits(14, 2), u[16] == UInt8(ascii: ":"),
              let sec = digits(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61
        else { return nil }
        var i = 19
        var frac = 0.0
        if i < u.count && u[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < u.count, u[i] >= 0x30 && u[i] <= 0x39 {
                frac += Double(u[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < u.count else { return nil }
        var offset = 0
        switch u[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let oh = digits(i + 1, 2), u.count > i + 3, u[i + 3] == UInt8(ascii: ":"),
                  let om = digits(i + 4, 2), oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (u[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        default:
            return nil
        }
        guard i == u.count else { return nil }
        guard d <= daysInMonth(y, mo) else { return nil }
        let days = daysFromCivil(y, mo, d)
        let seconds = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + min(sec, 59)) - Int64(offset)
        return seconds * 1000 + EpochMillis((frac * 1000).rounded(.down))
    }

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

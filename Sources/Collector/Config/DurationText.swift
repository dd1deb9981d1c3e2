/// Durations as config writes them: `500ms`, `10s`, `30m`, `1h30m`, `7d`, `2w`.
enum DurationText {
    /// Milliseconds, or nil when `s` is not a duration.
    static func millis(_ s: String) -> Int64? {
        var total: Int64 = 0
        var i = s.utf8.startIndex
        let u = s.utf8
        guard !u.isEmpty else { return nil }
        while i < u.endIndex {
            var n: Int64 = 0
            var digits = 0
            while i < u.endIndex, let d = digit(u[i]) {
                guard n < 1_000_000_000 else { return nil }
                n = n * 10 + d
                digits += 1
                i = u.index(after: i)
            }
            guard digits > 0, i < u.endIndex else { return nil }
            let unitStart = i
            while i < u.endIndex, digit(u[i]) == nil { i = u.index(after: i) }
            let unit: Int64
            switch String(s[unitStart..<i]) {
            case "ms": unit = 1
            case "s": unit = 1000
            case "m": unit = 60_000
            case "h": unit = 3_600_000
            case "d": unit = 86_400_000
            case "w": unit = 604_800_000
            default: return nil
            }
            total += n * unit
        }
        return total
    }

    /// `millis` written back the way a config would: `1d12h`, `90s`, `250ms`.
    static func format(_ millis: Int64) -> String {
        guard millis > 0 else { return "\(millis)ms" }
        var rest = millis
        var out = ""
        for (unit, name) in [(Int64(86_400_000), "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")] where rest >= unit {
            out += "\(rest / unit)\(name)"
            rest %= unit
        }
        return out
    }

    private static func digit(_ c: UInt8) -> Int64? {
        c >= 0x30 && c <= 0x39 ? Int64(c - 0x30) : nil
    }
}

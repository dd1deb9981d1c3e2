import Telemetry

/// Numbers as the API writes them, put at a pointer with room for `maxLength` bytes: the core
/// of `JSONText`'s numbers and of `JSONText.Row`. Each returns how many bytes it wrote.
enum NumberText {
    /// The most any of these writes: a double's `description` is at most 24 characters.
    static let maxLength = 32

    /// An integer's decimal digits, two a division, written from the end.
    static func int(_ v: Int64, at p: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        if v < 0 { p[0] = UInt8(ascii: "-"); n = 1 }
        var m = v.magnitude
        var digits = 1
        var t = m
        while t >= 10 { t /= 10; digits += 1 }
        var i = n + digits
        while m >= 10 {
            let pair = Int(m % 100)
            m /= 100
            i -= 2
            p[i] = UInt8(ascii: "0") + UInt8(pair / 10)
            p[i + 1] = UInt8(ascii: "0") + UInt8(pair % 10)
        }
        if i > n { p[i - 1] = UInt8(ascii: "0") + UInt8(m) }
        return n + digits
    }

    /// A double in Swift's shortest round-trip form (an integral value without ".0"), or
    /// `null` when it is not finite (JSON has no NaN or infinity).
    static func double(_ v: Double, at p: UnsafeMutablePointer<UInt8>) -> Int {
        if !v.isFinite {
            return copy("null", to: p)
        } else if abs(v) < 1e15, v == SampleBlock.nearest(v) {
            return int(Int64(v), at: p)
        } else if let n = shortDecimal(v, at: p) {
            return n
        }
        var text = v.description
        return text.withUTF8 { u in
            p.update(from: u.baseAddress!, count: u.count)
            return u.count
        }
    }

    /// Writes `v` as Swift's `description` does when it is a decimal of 1 to 9 places and at
    /// most 15 significant digits (a sensor's reading, a sum of them: nearly every value we
    /// answer), without a String; nil for any other value, written nothing.
    ///
    /// Why it is the shortest form: the first `k` for which the nearest double to `m / 10^k`
    /// (m the integer nearest `|v| * 10^k`; the division correctly rounded, as m < 2^53 and
    /// 10^k are exact) is `v` gives the fewest digits. Below 10^15 two k-place decimals are
    /// further apart than a double's spacing there, so no other k-place decimal reads back as
    /// `v` and the choice is the one `description` makes. `m` is exact: `|v| * 10^k` lies
    /// within a quarter of `m` when `m / 10^k` reads back as `v`.
    static func shortDecimal(_ v: Double, at p: UnsafeMutablePointer<UInt8>) -> Int? {
        let a = abs(v)
        // Outside this range `description` switches to an exponent.
        guard a >= 1e-3, a < 1e14 else { return nil }
        // A decimal of k <= 9 places is one of 9 places too, and below 10^6 the 9-place
        // integer is exact as above (|v| * 10^9 < 2^50: within a quarter of it): one look
        // there tells whether any k will do, so a mean of 16 digits fails at once.
        if a < 1e6 {
            let m9 = SampleBlock.nearest(a * 1e9)
            guard m9 / 1e9 == a else { return nil }
        }
        var scale = 1.0
        for k in 1...9 {
            scale *= 10
            let m = SampleBlock.nearest(a * scale)
            guard m < 1e15 else { return nil }
            guard m / scale == a else { continue }
            var n = 0
            if v < 0 { p[0] = UInt8(ascii: "-"); n = 1 }
            let whole = UInt64(m) / UInt64(scale)
            var frac = UInt64(m) % UInt64(scale)
            n += int(Int64(whole), at: p + n)
            p[n] = UInt8(ascii: ".")
            for i in stride(from: n + k, to: n, by: -1) {
                p[i] = UInt8(ascii: "0") + UInt8(frac % 10)
                frac /= 10
            }
            return n + 1 + k
        }
        return nil
    }

    /// Epoch milliseconds as epoch seconds (a fraction only when needed).
    static func seconds(_ ms: EpochMillis, at p: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        if ms < 0 { p[0] = UInt8(ascii: "-"); n = 1 }
        let m = ms.magnitude
        n += int(Int64(m / 1000), at: p + n)
        var frac = Int64(m % 1000)
        guard frac != 0 else { return n }
        p[n] = UInt8(ascii: ".")
        var digits = 3
        while frac % 10 == 0 { frac /= 10; digits -= 1 }
        for i in stride(from: n + digits, to: n, by: -1) {
            p[i] = UInt8(ascii: "0") + UInt8(frac % 10)
            frac /= 10
        }
        return n + 1 + digits
    }

    private static func copy(_ s: StaticString, to p: UnsafeMutablePointer<UInt8>) -> Int {
        s.withUTF8Buffer { p.update(from: $0.baseAddress!, count: $0.count) }
        return s.utf8CodeUnitCount
    }
}

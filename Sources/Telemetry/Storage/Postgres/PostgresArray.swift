/// PostgreSQL array literals (`{1,2,3}`), for sending a commit's rows as a few array
/// parameters (`unnest($1::int[], ...)`) instead of a statement a row: one round trip for
/// hundreds of rows.
public enum PostgresArray {
    public static func ints<T: BinaryInteger>(_ values: some Sequence<T>) -> PostgresConnection.Value {
        .text("{" + values.map { String($0) }.joined(separator: ",") + "}")
    }

    /// Doubles as their shortest exact decimal spelling (PostgreSQL's `float8` input reads it
    /// back to the same bits); infinities and NaN by PostgreSQL's names.
    public static func doubles(_ values: some Sequence<Double>) -> PostgresConnection.Value {
        .text("{" + values.map(float8).joined(separator: ",") + "}")
    }

    public static func float8(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v < 0 ? "-Infinity" : "Infinity" }
        return String(v)
    }

    /// Texts, each quoted (backslashes and double quotes escaped).
    public static func texts(_ values: some Sequence<String>) -> PostgresConnection.Value {
        .text("{" + values.map(quoted).joined(separator: ",") + "}")
    }

    /// Byte strings in bytea's hex form (`\x0a1b`), quoted.
    static func byteas(_ values: some Sequence<[UInt8]>) -> PostgresConnection.Value {
        let hex = Array("0123456789abcdef".utf8)
        return .text("{" + values.map { bytes in
            var s: [UInt8] = Array(#""\\x"#.utf8)
            s.reserveCapacity(bytes.count * 2 + 5)
            for b in bytes { s.append(hex[Int(b >> 4)]); s.append(hex[Int(b & 15)]) }
            s.append(UInt8(ascii: "\""))
            return String(decoding: s, as: UTF8.self)
        }.joined(separator: ",") + "}")
    }

    /// Quoted, backslashes and double quotes escaped; NUL, which PostgreSQL text cannot hold
    /// (and which would cut the parameter short), becomes U+FFFD.
    private static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            if c == "\\" || c == "\"" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c == "\0" ? "\u{FFFD}" : c)
        }
        return out + "\""
    }
}

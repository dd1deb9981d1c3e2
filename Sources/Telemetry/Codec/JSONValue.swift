/// A JSON document as a tree, decoded with Foundation's `JSONDecoder` (which enforces
/// well-formed UTF-8 and a nesting limit).
enum JSONValue: Decodable {
    case number(Double)
    case bool(Bool)
    case string(String)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Most common first: every failed attempt is a thrown error, which is expensive.
        // (Foundation refuses `true` as a Double and `1` as a Bool, so the order is safe.)
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let o = try? c.decode([String: JSONValue].self) { self = .object(o); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if c.decodeNil() { self = .null; return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "unsupported JSON value")
    }
}

/// A JSON document as a tree, as `JSONScanner` builds it.
enum JSONValue: Sendable, Equatable {
    case number(Double)
    case bool(Bool)
    case string(String)
    case null
    case array([JSONValue])
    case object([String: JSONValue])
}

import Yams

/// Reads one YAML mapping key by key, collecting problems with their line numbers, and
/// reports every key nobody asked for as unknown (`finish()`).
final class YAMLMapping {
    let file: String
    let line: Int
    private var entries: [(key: String, keyLine: Int, value: Node)] = []
    private var used = Set<String>()
    private let sink: ProblemSink

    init(_ node: Node, file: String, sink: ProblemSink, what: String) {
        self.file = file
        self.sink = sink
        self.line = node.mark?.line ?? 1
        guard case .mapping(let m) = node else {
            sink.add(file, node.mark?.line ?? 1, "\(what) must be a mapping of keys to values")
            return
        }
        for (k, v) in m {
            let key = k.string ?? ""
            if entries.contains(where: { $0.key == key }) {
                sink.add(file, k.mark?.line ?? line, "duplicate key '\(key)' in \(what)")
            }
            entries.append((key, k.mark?.line ?? line, v))
        }
    }

    func node(_ key: String) -> Node? {
        used.insert(key)
        return entries.first(where: { $0.key == key })?.value
    }

    func lineOf(_ key: String) -> Int { entries.first(where: { $0.key == key })?.keyLine ?? line }

    func problem(_ key: String, _ message: String) {
        sink.add(file, node(key)?.mark?.line ?? lineOf(key), message)
    }

    /// A problem with one node (e.g. an entry of a list), at its own line.
    func problem(at node: Node, _ message: String) {
        sink.add(file, node.mark?.line ?? line, message)
    }

    func string(_ key: String) -> String? {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s) = n else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be a text value")
            return nil
        }
        return s.string
    }

    func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let n = node(key) else { return nil }
        guard let v = n.int else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be a whole number")
            return nil
        }
        guard range.contains(v) else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be between \(range.lowerBound) and \(range.upperBound), not \(v)")
            return nil
        }
        return v
    }

    func bool(_ key: String) -> Bool? {
        guard let n = node(key) else { return nil }
        guard let v = n.bool else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be true or false")
            return nil
        }
        return v
    }

    func double(_ key: String, in range: ClosedRange<Double>) -> Double? {
        guard let n = node(key) else { return nil }
        guard let v = n.float, v.isFinite else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be a number")
            return nil
        }
        guard range.contains(v) else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be between \(range.lowerBound) and \(range.upperBound), not \(v)")
            return nil
        }
        return v
    }

    /// Every key of the mapping, in file order (marks them all as known).
    func allKeys() -> [String] {
        for e in entries { used.insert(e.key) }
        return entries.map(\.key)
    }

    /// A duration such as `30s`, `10m`, `7d`, in milliseconds.
    func duration(_ key: String) -> Int64? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let ms = DurationText.millis(s) else {
            sink.add(file, n.mark?.line ?? line, "'\(key)': bad duration '\(n.string ?? "?")' (use e.g. 500ms, 30s, 10m, 1h, 7d)")
            return nil
        }
        return ms
    }

    func mapping(_ key: String) -> YAMLMapping? {
        guard let n = node(key) else { return nil }
        return YAMLMapping(n, file: file, sink: sink, what: "'\(key)'")
    }

    /// A reader for a nested mapping (e.g. one list item) that reports into the same problems.
    func child(_ node: Node, what: String) -> YAMLMapping {
        YAMLMapping(node, file: file, sink: sink, what: what)
    }

    func sequence(_ key: String) -> [Node]? {
        guard let n = node(key) else { return nil }
        guard case .sequence(let s) = n else {
            sink.add(file, n.mark?.line ?? line, "'\(key)' must be a list")
            return nil
        }
        return Array(s)
    }

    /// Reports the keys that were never read.
    func finish(_ what: String) {
        for e in entries where !used.contains(e.key) {
            sink.add(file, e.keyLine, "unknown key '\(e.key)' in \(what)")
        }
    }
}

/// Collects problems across nested readers.
final class ProblemSink {
    private(set) var problems: [ConfigProblem] = []
    func add(_ file: String, _ line: Int, _ message: String) {
        problems.append(ConfigProblem(file: file, line: line, message: message))
    }
}

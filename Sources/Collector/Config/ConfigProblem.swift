/// One problem in a configuration file, printed as `file:line: message`.
struct ConfigProblem: Error, Sendable, CustomStringConvertible, Equatable {
    var file: String
    var line: Int
    var message: String
    var description: String { "\(file):\(line): \(message)" }
}

/// Every problem found in a load, not only the first.
struct ConfigProblems: Error, Sendable, CustomStringConvertible {
    var problems: [ConfigProblem]
    var description: String { problems.map(\.description).joined(separator: "\n") }
}

import GRDB

/// How a storage failure is told to the open `/readyz`: SQLite's result code and message
/// ("SQLITE_FULL: database or disk is full"), never the statement that failed or other
/// internals; the log keeps the whole error for operators.
enum StorageFailure {
    static func brief(_ error: any Error) -> String {
        if let e = error as? DatabaseError {
            return "\(e.resultCode)" + (e.message.map { ": \($0)" } ?? "")
        }
        return "\(type(of: error))"
    }
}

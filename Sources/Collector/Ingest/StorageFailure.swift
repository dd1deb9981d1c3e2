import GRDB
import Telemetry

/// How a storage failure is told to the open `/readyz`: SQLite's result code and message
/// ("SQLITE_FULL: database or disk is full"), PostgreSQL's SQLSTATE or a standby's lag, never
/// the statement that failed or other internals; the log keeps the whole error for operators.
enum StorageFailure {
    static func brief(_ error: any Error) -> String {
        if let e = error as? DatabaseError {
            return "\(e.resultCode)" + (e.message.map { ": \($0)" } ?? "")
        }
        // (Written for readiness: says nothing about a statement or a connection string.)
        if let e = error as? PostgresReader.NotReady { return e.description }
        if let e = error as? PostgresConnection.Failure { return e.sqlState.map { "SQLSTATE \($0)" } ?? "PostgreSQL unreachable" }
        return "\(type(of: error))"
    }
}

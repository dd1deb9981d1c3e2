import GRDB
// The SQLite C API under GRDB.
import GRDBSQLite

/// Runs a cached statement through the SQLite C API: reset, bind with `sqlite3_bind_*`,
/// step once. The commit's per-reading statements use it (no `StatementArguments`, no boxed
/// `DatabaseValue`s: their retains and allocations were a fifth of ingest time). An error is
/// thrown as GRDB's `DatabaseError`, so the transaction rolls back as with `execute`.
enum FastStep {
    static func run(_ statement: Statement, _ db: Database, bind: (OpaquePointer) -> Void) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bind(h)
        let rc = sqlite3_step(h)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else {
            sqlite3_reset(h)
            throw DatabaseError(resultCode: ResultCode(rawValue: rc),
                                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
        }
    }

    /// Runs a cached read statement the same way, calling `row` with the statement's handle
    /// for each row (columns read with `sqlite3_column_*`, valid during the call only).
    static func forEachRow(_ statement: Statement, _ db: Database, bind: (OpaquePointer) -> Void,
                           row: (OpaquePointer) throws -> Void) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bind(h)
        defer { sqlite3_reset(h) }
        while true {
            let rc = sqlite3_step(h)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc),
                                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
            }
            try row(h)
        }
    }
}

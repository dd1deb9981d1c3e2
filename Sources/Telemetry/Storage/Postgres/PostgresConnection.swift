import CPostgres
import Glibc
import Foundation

/// One PostgreSQL connection through libpq: parameterized statements, answers as text,
/// errors with their SQLSTATE. Blocking; use from one thread at a time.
///
/// A multi-host connection string (`postgresql://a:5432,b:5432/db?target_session_attrs=read-write`)
/// makes libpq try each host until one accepts writes: after a failover, a new connection
/// finds the promoted replica.
public final class PostgresConnection: @unchecked Sendable {
    private let handle: OpaquePointer   // PGconn *

    /// A statement's parameter.
    public enum Value: Sendable, Equatable {
        case null
        case int(Int64)
        case text(String)
        case bytes([UInt8])
    }

    /// An error from the server (with its SQLSTATE, e.g. `40001`) or from the connection.
    public struct Failure: Error, CustomStringConvertible {
        public let sqlState: String?
        public let message: String
        public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
        /// The connection is gone, or the server is going (class 08, a shutdown, a server
        /// in recovery or read-only after a failover): connect again, to the host that now
        /// takes writes. 08007: a COMMIT whose outcome is unknown.
        public var lostConnection: Bool {
            guard let s = sqlState else { return true }
            return s.hasPrefix("08") || s.hasPrefix("57P") || s == "25006"
        }
    }

    /// `conninfo` with `settings` added where it does not set them itself: as URL parameters
    /// (`postgresql://...?key=value`) or as `key=value` words.
    public static func withSettings(_ conninfo: String, _ settings: [String: String]) -> String {
        var out = conninfo
        let isURL = conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://")
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) where !conninfo.contains(key + "=") {
            if isURL { out += (out.contains("?") ? "&" : "?") + key + "=" + value } else { out += " " + key + "=" + value }
        }
        return out
    }

    public init(_ conninfo: String) throws {
        guard let h = PQconnectdb(conninfo) else { throw Failure(sqlState: nil, message: "libpq: out of memory") }
        guard PQstatus(h) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(h)).trimmingTrailingNewlines
            PQfinish(h)
            throw Failure(sqlState: nil, message: "cannot connect to PostgreSQL: \(message)")
        }
        // The server's notices ("relation already exists, skipping") are not for the user; its
        // warnings are ("the transaction has already committed locally, but might not have
        // been replicated": an acknowledged commit that may not survive a failover).
        PQsetNoticeProcessor(h, { _, message in
            guard let message, strncmp(message, "WARNING", 7) == 0 else { return }
            _ = write(2, message, strlen(message))
        }, nil)
        handle = h
        // What the code relies on, whatever the server's or role's defaults: doubles read back
        // to the same bits, bytea as hex, text in UTF-8.
        for setting in ["SET extra_float_digits = 3", "SET bytea_output = 'hex'", "SET client_encoding = 'UTF8'"] {
            try execute(setting)
        }
    }

    deinit { PQfinish(handle) }

    /// Whether the connection is still up (false after the server went away).
    public var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Runs one statement with `$1`, `$2`, ... bound to `params`; its rows, each a column list
    /// of text values (nil for NULL). Bytes go as bytea in binary; NUL in a text becomes U+FFFD.
    @discardableResult
    public func execute(_ sql: String, _ params: [Value] = []) throws -> [[String?]] {
        var texts: [[CChar]?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var types: [Oid] = []   // 0: the server infers it; bytes are bytea (OID 17), in binary
        for p in params {
            switch p {
            case .null: texts.append(nil); lengths.append(0); formats.append(0); types.append(0)
            case .int(let v): texts.append(Array(String(v).utf8CString)); lengths.append(0); formats.append(0); types.append(0)
            case .text(let s):
                // NUL, which PostgreSQL text cannot hold (and which would end the C string
                // early), becomes U+FFFD.
                let safe = s.utf8.contains(0) ? s.replacingOccurrences(of: "\0", with: "\u{FFFD}") : s
                texts.append(Array(safe.utf8CString)); lengths.append(0); formats.append(0); types.append(0)
            case .bytes(let b):
                texts.append(b.map { CChar(bitPattern: $0) }); lengths.append(Int32(b.count)); formats.append(1); types.append(17)
            }
        }
        let result = withPointers(texts) { values in
            PQexecParams(handle, sql, Int32(params.count), types, values, lengths, formats, 0)
        }
        guard let result else {
            throw Failure(sqlState: nil, message: String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                ?? String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines
            throw Failure(sqlState: state, message: message)
        }
        var rows: [[String?]] = []
        let (n, columns) = (PQntuples(result), PQnfields(result))
        rows.reserveCapacity(Int(n))
        for r in 0..<n {
            rows.append((0..<columns).map { c in
                PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c))
            })
        }
        return rows
    }

    /// A notification (`NOTIFY channel, payload`) from another session.
    public struct Notification: Sendable, Equatable {
        public var channel: String
        public var payload: String
    }

    /// Waits up to `timeoutMillis` for notifications of the channels this session listens to
    /// (`LISTEN channel`, run with `execute`); the ones that arrived, perhaps none. Throws when
    /// the connection is lost (notifications sent meanwhile are not delivered later).
    public func notifications(timeoutMillis: Int32) throws -> [Notification] {
        var out = pending()
        guard out.isEmpty else { return out }
        var fd = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        guard fd.fd >= 0 else { throw Failure(sqlState: nil, message: "the connection is closed") }
        let rc = poll(&fd, 1, timeoutMillis)
        if rc < 0 && errno != EINTR { throw Failure(sqlState: nil, message: "poll: \(String(cString: strerror(errno)))") }
        if rc > 0 {
            guard PQconsumeInput(handle) == 1 else {
                throw Failure(sqlState: nil, message: String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines)
            }
            out = pending()
        }
        return out
    }

    /// The notifications libpq has read already.
    private func pending() -> [Notification] {
        var out: [Notification] = []
        while let n = PQnotifies(handle) {
            out.append(Notification(channel: String(cString: n.pointee.relname), payload: String(cString: n.pointee.extra)))
            PQfreemem(n)
        }
        return out
    }

    /// Runs `body` inside BEGIN (read committed) ... COMMIT; a thrown error rolls back and is rethrown. A
    /// transaction that failed inside `body` without throwing is rolled back and reported, not
    /// taken as committed. A COMMIT whose answer never came (the connection lost) throws
    /// `Failure` with SQLSTATE `08007`: it may or may not have committed.
    public func transaction<T>(snapshot: Bool = false, _ body: () throws -> T) throws -> T {
        // Read committed whatever the default: each statement sees what committed before it,
        // so a commit that waited for a row lock then reads the rows the other one wrote. A
        // `snapshot` (several reads that must agree, such as a series' blocks read a few at a
        // time): repeatable read, read only (a standby takes it too).
        try execute(snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED")
        let value: T
        do {
            value = try body()
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
        if PQtransactionStatus(handle) == PQTRANS_INERROR {
            _ = try? execute("ROLLBACK")
            throw Failure(sqlState: "25P02", message: "the transaction failed and was rolled back")
        }
        do {
            try execute("COMMIT")
        } catch let e as Failure where e.sqlState == nil {
            throw Failure(sqlState: "08007", message: "the connection was lost during COMMIT: it may or may not have committed (\(e.message))")
        }
        return value
    }
}

/// Runs `body` with a C array of pointers to each buffer (NULL for nil), kept alive meanwhile.
private func withPointers<R>(_ buffers: [[CChar]?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    var pointers: [UnsafePointer<CChar>?] = []
    var owned: [UnsafeMutableBufferPointer<CChar>] = []
    defer { owned.forEach { $0.deallocate() } }
    for b in buffers {
        guard let b else { pointers.append(nil); continue }
        let copy = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(b.count, 1))
        _ = copy.initialize(from: b)
        owned.append(copy)
        pointers.append(UnsafePointer(copy.baseAddress))
    }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

private extension String {
    var trimmingTrailingNewlines: String {
        var s = self
        while s.last?.isNewline == true { s.removeLast() }
        return s
    }
}

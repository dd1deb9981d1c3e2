import Foundation
import GRDB

/// Copies the write-ahead log back into the database file on a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that grows the WAL past its limit, on
/// the ingest thread. This one runs beside it, on its own connection, in `PASSIVE` mode: it
/// never waits for the writer or readers, and copies what no reader still needs. The writer
/// keeps an automatic checkpoint at `TelemetryDatabase.walSafetyPages` as a safety net.
///
/// Under continuous writes the WAL starts over only after that safety-net checkpoint, whose
/// fsyncs stall the ingest thread: each must flush what was written since this thread last
/// synced. Running every 100 ms (not niced) keeps that short (BENCHMARKS.md, session 8).
public final class WALCheckpointer: @unchecked Sendable {
    private let db: DatabaseQueue
    private let interval: TimeInterval
    // Guarded by `cond`.
    private let cond = NSCondition()
    private var stopping = false
    private var running = false

    /// Opens a connection of its own to the database at `path` (already migrated).
    public init(path: String, interval: Duration = .milliseconds(100)) throws {
        var config = Configuration()
        config.busyMode = .immediateError
        db = try DatabaseQueue(path: path, configuration: config)
        self.interval = interval.inSeconds
    }

    /// One passive checkpoint now; returns the WAL's size and how much of it is copied, in pages.
    @discardableResult
    public func checkpoint() throws -> (walPages: Int, copied: Int) {
        try db.inDatabase { db in
            guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") else { return (0, 0) }
            return (row[1], row[2])
        }
    }

    public func start() {
        cond.lock()
        defer { cond.unlock() }
        guard !running else { return }
        running = true
        NamedThread.start("wal-checkpoint") { [self] in run() }
    }

    /// Stops the thread; returns once it has.
    public func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while running { cond.wait() }
        cond.unlock()
    }

    private func run() {
        cond.lock()
        while !stopping {
            _ = cond.wait(until: Date(timeIntervalSinceNow: interval))
            if stopping { break }
            cond.unlock()
            // Busy (another checkpoint) or failing: the next round, or the writer's safety net.
            _ = try? checkpoint()
            cond.lock()
        }
        running = false
        cond.broadcast()
        cond.unlock()
    }
}

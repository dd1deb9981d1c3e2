import Foundation
import GRDB

/// Opens the collector's SQLite file (WAL) and brings its schema up to date.
/// The schema is documented in `Storage/SCHEMA.md`.
public enum TelemetryDatabase {
    /// How hard each commit pushes to disk. `normal` survives a killed process;
    /// `full` also survives a power loss, at the cost of an fsync per commit.
    public enum Durability: String, Sendable {
        case normal, full
    }

    /// Opens (creating if needed) the database at `path` and migrates it.
    /// An unreadable, corrupt or foreign file is an error, never silently replaced.
    /// `extraMigrations` lets other modules (Alerts) add their tables to the same file.
    public static func open(path: String, durability: Durability = .normal, maxSizeBytes: Int64? = nil,
                            extraMigrations: (inout DatabaseMigrator) -> Void = { _ in }) throws -> DatabasePool {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            // Reads map the file instead of copying pages through read(2): a grouped query
            // over 1,000 series reads ~100k rollup rows (BENCHMARKS.md, "Queries").
            try db.execute(sql: "PRAGMA mmap_size = 268435456")
            if let maxSizeBytes { try setMaxSize(db, maxSizeBytes) }
        }
        let pool = try DatabasePool(path: path, configuration: config)
        var m = migrator
        extraMigrations(&m)
        try m.migrate(pool)
        // The writer's page cache: 256 MB instead of SQLite's 2 MB, so commits touching a page
        // per series do not read it back from the OS each time (BENCHMARKS.md, session 4).
        try pool.barrierWriteWithoutTransaction { db in
            try db.execute(sql: "PRAGMA cache_size = -262144")
            // `WALCheckpointer` copies the WAL back beside the writer; the writer's own
            // checkpoint (SQLite's default is at 1,000 pages) is only a safety net.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(walSafetyPages)")
        }
        return pool
    }

    /// The WAL size (pages) past which the writer checkpoints by itself, inside a commit: when
    /// no `WALCheckpointer` runs (import, tests) or it cannot keep up.
    public static let walSafetyPages = 10_000

    /// Caps the file at about `bytes` (SQLite's `max_page_count`): past it a commit fails as
    /// on a full disk. Applies to this connection; the writer is the one that matters.
    public static func setMaxSize(_ db: Database, _ bytes: Int64) throws {
        let page = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        try db.execute(sql: "PRAGMA max_page_count = \(max(1, bytes / page))")
    }

    /// Named, append-only schema migrations.
    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: series, raw readings, rollups, quarantine") { db in
            try db.execute(sql: """
                CREATE TABLE series (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    sensor TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    first_seen INTEGER NOT NULL,
                    last_t INTEGER,
                    last_value REAL
                );
                CREATE INDEX series_sensor ON series(sensor);
                CREATE TABLE raw (
                    series_id INTEGER NOT NULL,
                    t INTEGER NOT NULL,
                    value REAL NOT NULL,
                    PRIMARY KEY (series_id, t)
                ) WITHOUT ROWID;
                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    received INTEGER NOT NULL,
                    topic TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    payload BLOB NOT NULL
                );
                """)
            for tier in Tier.allCases {
                try db.execute(sql: """
                    CREATE TABLE \(tier.table) (
                        series_id INTEGER NOT NULL,
                        t INTEGER NOT NULL,
                        cnt INTEGER NOT NULL,
                        total REAL NOT NULL,
                        lo REAL NOT NULL,
                        hi REAL NOT NULL,
                        first_t INTEGER NOT NULL,
                        first_v REAL NOT NULL,
                        last_t INTEGER NOT NULL,
                        last_v REAL NOT NULL,
                        PRIMARY KEY (series_id, t)
                    ) WITHOUT ROWID
                    """)
            }
        }
        m.registerMigration("v2: series labels from topic patterns") { db in
            try db.execute(sql: """
                ALTER TABLE series ADD COLUMN district TEXT;
                ALTER TABLE series ADD COLUMN kind TEXT;
                """)
        }
        m.registerMigration("v3: rollup journal for deferred rollup merges") { db in
            try db.execute(sql: """
                CREATE TABLE rollup_journal (
                    series_id INTEGER NOT NULL,
                    t INTEGER NOT NULL,
                    value REAL NOT NULL
                )
                """)
        }
        return m
    }
}

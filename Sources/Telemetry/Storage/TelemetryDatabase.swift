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
    /// `rawMigrationProgress` hears how many readings of an older file's `raw` table have
    /// moved into sample blocks so far (`RawRowMigration`, `rawMigrationReadingsPerCommit` a
    /// transaction), after each of its transactions; what it throws stops the move there.
    public static func open(path: String, durability: Durability = .normal, maxSizeBytes: Int64? = nil,
                            extraMigrations: (inout DatabaseMigrator) -> Void = { _ in },
                            rawMigrationReadingsPerCommit: Int = 1_000_000,
                            rawMigrationProgress: (Int) throws -> Void = { _ in }) throws -> DatabasePool {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        // The rollups file first: the readers of the main file attach it.
        let rollups = rollupsPath(for: path)
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            let pool = try DatabasePool(path: rollups, configuration: config)
            try setIncrementalVacuumIfNew(pool)
            try rollupsMigrator.migrate(pool)
            try pool.close()
        }
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            // Not the writer: its transactions (BEGIN IMMEDIATE) would take the write lock of
            // every attached file, and hold up the `RollupMerger`.
            if db.configuration.readonly { try attachRollups(db, path: rollups) }
            if let maxSizeBytes { try setMaxSize(db, maxSizeBytes) }
        }
        let pool = try DatabasePool(path: path, configuration: config)
        try setIncrementalVacuumIfNew(pool)
        var m = migrator
        extraMigrations(&m)
        // Migration v4 moves rollups to the rollups file: the writer attaches it meanwhile.
        try pool.barrierWriteWithoutTransaction { try $0.execute(sql: "ATTACH DATABASE ? AS rollups", arguments: [rollups]) }
        try m.migrate(pool)
        try pool.barrierWriteWithoutTransaction { try $0.execute(sql: "DETACH DATABASE rollups") }
        try RawRowMigration.run(pool, readingsPerCommit: rawMigrationReadingsPerCommit, progress: rawMigrationProgress)
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

    /// Opens an existing database read-only (`collector query --db`), with its rollups file
    /// when there is one (a file from before migration v4 keeps its rollups inside).
    public static func openReadOnly(path: String) throws -> DatabasePool {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        let rollups = rollupsPath(for: path)
        let attach = FileManager.default.fileExists(atPath: rollups)
        config.prepareDatabase { db in
            if attach { try attachRollups(db, path: rollups) }
        }
        let pool = try DatabasePool(path: path, configuration: config)
        if try !pool.read({ try migrator.hasCompletedMigrations($0) }) {
            throw DatabaseError(resultCode: .SQLITE_ERROR,
                                message: "\(path) was written by an older collector: run `collector migrate` (or start the collector) on it first")
        }
        if try pool.read({ try RawRowMigration.isNeeded($0) }) {
            throw DatabaseError(resultCode: .SQLITE_ERROR,
                                message: "\(path) holds raw readings in the layout before sample blocks: run `collector migrate` (or start the collector) on it first")
        }
        return pool
    }

    /// A new file (no table yet) gets incremental auto-vacuum, so the pages the journal frees
    /// can go back to the file system (`PRAGMA incremental_vacuum`, at a store's close). A
    /// file created without it keeps its free pages for reuse.
    private static func setIncrementalVacuumIfNew(_ pool: DatabasePool) throws {
        try pool.barrierWriteWithoutTransaction { db in
            if try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0 {
                // In WAL mode the setting takes effect through a VACUUM (instant while empty).
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "VACUUM")
            }
        }
    }

    /// The rollups file beside the main one: `collector.sqlite` -> `collector.rollups.sqlite`.
    /// The two files belong together (copy, back up and delete them together).
    public static func rollupsPath(for path: String) -> String {
        let ext = (path as NSString).pathExtension
        let base = ext.isEmpty ? path : String(path.dropLast(ext.utf8.count + 1))
        return base + ".rollups" + (ext.isEmpty ? "" : "." + ext)
    }

    /// Attaches the rollups file as schema `rollups` (to a reader), so the rollup tables are
    /// found by their plain names. Both files' pages are mapped instead of copied through
    /// read(2): a grouped query over 1,000 series reads ~100k rollup rows (BENCHMARKS.md,
    /// "Queries").
    private static func attachRollups(_ db: Database, path: String) throws {
        try db.execute(sql: "ATTACH DATABASE ? AS rollups", arguments: [path])
        try db.execute(sql: "PRAGMA main.mmap_size = 268435456")
        try db.execute(sql: "PRAGMA rollups.mmap_size = 268435456")
    }

    /// The WAL size (pages) past which the writer checkpoints by itself, inside a commit: when
    /// no `WALCheckpointer` runs (import, tests) or it cannot keep up. Under continuous writes
    /// it is also the only point where the WAL starts over, and its fsyncs stall the commit:
    /// 40,000 pages (160 MB of WAL at most) make that four times rarer than 10,000 did (the
    /// ingest thread's time in fsync at 20 k msg/s live: 54-132 against 342-465 ms per 8 s).
    public static let walSafetyPages = 40_000

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
            try createRollupTables(db)
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
        m.registerMigration("v4: rollups move to their own file") { db in
            // The rollups file is attached (`open`). Copying is idempotent, so a crash between
            // the two files' commits is repaired by running this again.
            for tier in Tier.allCases {
                try db.execute(sql: "INSERT OR REPLACE INTO rollups.\(tier.table) SELECT * FROM main.\(tier.table)")
                try db.execute(sql: "DROP TABLE main.\(tier.table)")
            }
        }
        m.registerMigration("v5: one packed journal row per commit") { db in
            // Readings the old journal holds past what the rollups file has merged go into one
            // pack, under the id of the last of them, so `merge_state.journal_upto` still applies.
            let upTo = try Int64.fetchOne(db, sql: "SELECT journal_upto FROM rollups.merge_state WHERE id = 1") ?? 0
            var pending: [BoundReading] = []
            var last: Int64 = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT rowid, series_id, t, value FROM rollup_journal WHERE rowid > ? ORDER BY rowid",
                                           arguments: [upTo])
            while let row = try rows.next() {
                last = row[0]
                pending.append(BoundReading(series: SeriesID(Int32(truncatingIfNeeded: row[1] as Int64)), time: row[2], value: row[3]))
            }
            try db.execute(sql: """
                DROP TABLE rollup_journal;
                CREATE TABLE rollup_journal (
                    id INTEGER PRIMARY KEY,
                    readings BLOB NOT NULL
                );
                """)
            if !pending.isEmpty {
                var bytes: [UInt8] = []
                JournalPack.appendV1(pending, to: &bytes)
                try db.execute(sql: "INSERT INTO rollup_journal (id, readings) VALUES (?, ?)", arguments: [last, Data(bytes)])
            }
        }
        m.registerMigration("v6: how far derived series are committed") { db in
            // Journal rows already there predate the watermark: counted as done.
            let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM rollup_journal") ?? 0
            try db.execute(sql: "CREATE TABLE derived_state (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL)")
            try db.execute(sql: "INSERT INTO derived_state VALUES (1, ?)", arguments: [last])
        }
        m.registerMigration("v7: raw readings in sample blocks") { db in
            // `raw`'s rows move into the blocks after the migrations (`RawRowMigration`), a
            // few series per transaction: one transaction for a large store would be long.
            try BlockStore.createTable(db)
        }
        m.registerMigration("v8: journal packs of per-series sample blocks") { db in
            // Each row's version-1 pack (20 B a reading) rewritten as version 2.
            let rows = try Row.fetchAll(db, sql: "SELECT id, readings FROM rollup_journal")
            for row in rows {
                let data: Data = row[1]
                var readings: [BoundReading] = []
                data.withUnsafeBytes { JournalPack.forEachV1(in: $0) { readings.append($0) } }
                var bytes: [UInt8] = []
                JournalPack.append(readings, to: &bytes)
                try db.execute(sql: "UPDATE rollup_journal SET readings = ? WHERE id = ?", arguments: [Data(bytes), row[0] as Int64])
            }
        }
        m.registerMigration("v9: a series' place label is an administrative unit") { db in
            // Labels written before keep their former district, which the catalogue's
            // `district` level still answers.
            try db.execute(sql: "ALTER TABLE series RENAME COLUMN district TO unit")
        }
        return m
    }

    /// One table per tier, one row per bucket (the main file's until v4, the rollups file's since).
    private static func createRollupTables(_ db: Database) throws {
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

    /// The rollups file's migrations: the rollup tables, and how far the main file's
    /// `rollup_journal` is merged into them (`RollupMerger`).
    public static var rollupsMigrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("r1: rollups, merge state") { db in
            try createRollupTables(db)
            try db.execute(sql: """
                CREATE TABLE merge_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    journal_upto INTEGER NOT NULL
                )
                """)
        }
        m.registerMigration("r2: how far the 1m tier is merged") { db in
            // NULL: as far as journal_upto (every tier was merged together before r2).
            try db.execute(sql: "ALTER TABLE merge_state ADD COLUMN minute_upto INTEGER")
        }
        m.registerMigration("r3: sealed rollup blocks") { db in
            try RollupBlockStore.createTable(db)
        }
        m.registerMigration("r4: tiers answered from raw readings") { db in
            try TierSizing.createTable(db)
        }
        return m
    }
}

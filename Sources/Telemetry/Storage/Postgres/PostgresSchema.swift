/// The tables of the shared PostgreSQL store (`SCHEMA.md` beside this file says what each
/// holds). Created by the first collector that connects, under an advisory lock, so several
/// starting at once do not race; a store made for another time zone is refused (its day
/// buckets start at that zone's midnights).
enum PostgresSchema {
    static let version = 4
    /// The advisory lock key the creation takes (any constant of our own).
    static let lockKey: Int64 = 0x636F_6C6C_6563_746F

    static let tables = [
        "CREATE TABLE IF NOT EXISTS store_meta (key text PRIMARY KEY, value text NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS series (
            id serial PRIMARY KEY, sensor text NOT NULL, metric text NOT NULL, last_t bigint, last_value float8,
            partition text, UNIQUE (sensor, metric))
        """,
        """
        CREATE TABLE IF NOT EXISTS sample_blocks (
            series_id int NOT NULL REFERENCES series (id), first_t bigint NOT NULL, last_t bigint NOT NULL,
            count int NOT NULL, data bytea NOT NULL, PRIMARY KEY (series_id, first_t))
        """,
        """
        CREATE TABLE IF NOT EXISTS rollup_blocks (
            series_id int NOT NULL REFERENCES series (id), tier smallint NOT NULL, first_start bigint NOT NULL,
            last_start bigint NOT NULL, count int NOT NULL, data bytea NOT NULL, PRIMARY KEY (series_id, tier, first_start))
        """,
        """
        CREATE TABLE IF NOT EXISTS quarantine (
            id bigserial PRIMARY KEY, received bigint NOT NULL, topic text NOT NULL, reason text NOT NULL,
            detail text NOT NULL, payload bytea NOT NULL)
        """,
        PartitionFence.schema,
        "CREATE TABLE IF NOT EXISTS remote_write_state (target text PRIMARY KEY, watermark bigint NOT NULL)",
        // Every collector's alerts (`PostgresAlertStore`): one live row per (rule, subject).
        """
        CREATE TABLE IF NOT EXISTS alerts (
            id bigserial PRIMARY KEY, rule text NOT NULL, subject text NOT NULL, severity text NOT NULL,
            state text NOT NULL, since bigint NOT NULL, updated bigint NOT NULL, value float8, value_t bigint,
            summary text NOT NULL, summary_en text, summary_vi text, unit text, zone text,
            ack_by text, ack_at bigint, ack_note text, owner text NOT NULL, moved_from text)
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS alerts_live ON alerts (rule, subject) WHERE state IN ('pending', 'firing')",
        "CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id)",
        // Changes of the series a store tracks (`PostgresStore.tracks`), oldest time
        // changed first: what the province's holder recomputes zone and unit maxima from.
        "CREATE TABLE IF NOT EXISTS series_changes (series_id int PRIMARY KEY REFERENCES series (id), from_t bigint NOT NULL, seq bigint NOT NULL)",
        // Retention finds old blocks by these, not by reading every block.
        "CREATE INDEX IF NOT EXISTS sample_blocks_last_t ON sample_blocks (last_t)",
        "CREATE INDEX IF NOT EXISTS rollup_blocks_tier_last ON rollup_blocks (tier, last_start)",
    ]

    /// Creates what is missing and checks the store's version and time zone.
    static func create(_ c: PostgresConnection, timeZone: TimeZoneID) throws {
        try c.transaction {
            try c.execute("SELECT pg_advisory_xact_lock($1)", [.int(lockKey)])
            for sql in tables { try c.execute(sql) }
            try c.execute("INSERT INTO store_meta VALUES ('version', $1), ('time_zone', $2) ON CONFLICT (key) DO NOTHING",
                          [.text(String(version)), .text(timeZone.description)])
            // Version 1 to 2: the partition that last wrote a series (what a takeover reads back).
            // (A migration waits at most `lock_timeout` for a table's lock, as long readers hold
            // it: it fails, and is tried again by the next connection, rather than queue every
            // commit behind it.)
            if try c.execute("SELECT value FROM store_meta WHERE key = 'version'").first?.first == "1" {
                try c.execute("SET LOCAL lock_timeout = '10s'")
                try c.execute("ALTER TABLE series ADD COLUMN IF NOT EXISTS partition text")
                try c.execute("UPDATE store_meta SET value = '2' WHERE key = 'version'")
            }
            // Version 2 to 3: the alerts and series_changes tables, created above.
            try c.execute("UPDATE store_meta SET value = '3' WHERE key = 'version' AND value = '2'")
            // Version 3 to 4: where a live alert moved from a collector's file (`moved_from`),
            // so that moving it again after a crash is a no-op, whatever became of it since.
            if try c.execute("SELECT value FROM store_meta WHERE key = 'version'").first?.first == "3" {
                try c.execute("SET LOCAL lock_timeout = '10s'")
                try c.execute("ALTER TABLE alerts ADD COLUMN IF NOT EXISTS moved_from text")
                try c.execute("UPDATE store_meta SET value = '4' WHERE key = 'version'")
            }
            try c.execute("CREATE UNIQUE INDEX IF NOT EXISTS alerts_moved ON alerts (moved_from) WHERE moved_from IS NOT NULL")
            // The fence's holder (compatible both ways: an older collector writes none).
            try PartitionFence.addHolder(c)
            try check(c, timeZone: timeZone)
        }
    }

    /// Checks the store's version and time zone, creating nothing (a store of an older
    /// version is brought up to date by the next collector that opens it to write) (a reader, perhaps on a
    /// read-only replica).
    static func check(_ c: PostgresConnection, timeZone: TimeZoneID) throws {
        let exists = try c.execute("SELECT to_regclass('store_meta') IS NOT NULL").first?.first ?? nil
        guard exists == "t" else { throw PostgresStore.Refused("no collector store there yet (no table store_meta)") }
        let meta = Dictionary(uniqueKeysWithValues: try c.execute("SELECT key, value FROM store_meta").compactMap { row in
            row[0].flatMap { k in row[1].map { (k, $0) } }
        })
        guard meta["version"] == String(version) else {
            throw PostgresStore.Refused("the store's schema is version \(meta["version"] ?? "?"); this collector knows version \(version)")
        }
        guard meta["time_zone"] == timeZone.description else {
            throw PostgresStore.Refused("the store's day buckets are in \(meta["time_zone"] ?? "?"), not \(timeZone.description): configure that time zone")
        }
    }
}

import Foundation
import GRDB
import Telemetry

/// Keeps alerts in the collector's SQLite file: the live ones (so a restart neither loses a
/// firing alert nor announces it again) and the history (resolved, acknowledged).
public struct AlertStore: AlertRecords {
    public let pool: DatabasePool

    public init(pool: DatabasePool) { self.pool = pool }

    /// The Alerts tables, added to Telemetry's migrator (one file, one migrator).
    public static func registerMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("alerts v1: alerts with state and acknowledgement") { db in
            try db.execute(sql: """
                CREATE TABLE alerts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    rule TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    state TEXT NOT NULL,
                    since INTEGER NOT NULL,
                    updated INTEGER NOT NULL,
                    value REAL,
                    value_t INTEGER,
                    summary TEXT NOT NULL,
                    ack_by TEXT,
                    ack_at INTEGER,
                    ack_note TEXT
                );
                CREATE UNIQUE INDEX alerts_live ON alerts(rule, subject) WHERE state IN ('pending', 'firing');
                CREATE INDEX alerts_state ON alerts(state, id);
                """)
        }
        m.registerMigration("alerts v2: district and zone, for grouping; summaries in English and Vietnamese") { db in
            try db.execute(sql: "ALTER TABLE alerts ADD COLUMN district TEXT")
            try db.execute(sql: "ALTER TABLE alerts ADD COLUMN zone TEXT")
            try db.execute(sql: "ALTER TABLE alerts ADD COLUMN summary_en TEXT")
            try db.execute(sql: "ALTER TABLE alerts ADD COLUMN summary_vi TEXT")
        }
        // Since the 2025 reorganisation places are communes and wards; rows written before keep
        // their former district in `unit`, which the catalogue's `district` level still answers.
        m.registerMigration("alerts v3: the place is an administrative unit") { db in
            try db.execute(sql: "ALTER TABLE alerts RENAME COLUMN district TO unit")
        }
    }

    /// Stores what the engine decided; returns the events with their alert ids.
    public func apply(_ events: [AlertEvent], now: EpochMillis) throws -> [AlertEvent] {
        guard !events.isEmpty else { return [] }
        return try pool.write { db in
            // Statements cached on the writer connection: a backlog applies thousands of events.
            var out: [AlertEvent] = []
            for var e in events {
                let a = e.alert
                switch e.action {
                case .none:
                    break
                case .pending, .fire:
                    // A severity change of a firing alert keeps its row and, unless the
                    // severity rose, its acknowledgement.
                    try db.cachedStatement(sql: """
                        INSERT INTO alerts (rule, subject, severity, state, since, updated, value, value_t, summary, unit, zone,
                                            summary_en, summary_vi)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?12, ?13, ?14)
                        ON CONFLICT (rule, subject) WHERE state IN ('pending', 'firing') DO UPDATE SET
                          severity = excluded.severity, state = excluded.state,
                          since = excluded.since, updated = excluded.updated,
                          value = excluded.value, value_t = excluded.value_t, summary = excluded.summary,
                          summary_en = excluded.summary_en, summary_vi = excluded.summary_vi,
                          unit = coalesce(excluded.unit, unit), zone = coalesce(excluded.zone, zone),
                          ack_by = CASE WHEN ?10 THEN NULL ELSE ack_by END,
                          ack_at = CASE WHEN ?10 THEN NULL ELSE ack_at END,
                          ack_note = CASE WHEN ?10 THEN NULL ELSE ack_note END
                        """).execute(arguments: [a.rule, a.subject, a.severity.rawValue, a.state, a.since, now, a.value, a.valueTime, a.summary,
                                                 e.clearsAcknowledgement, a.unit, a.zone, a.summaryEn, a.summaryVi])
                case .cancel:
                    // Its own id (not an older alert's of the same rule and subject), then gone.
                    e.alert.id = try Int64.fetchOne(db.cachedStatement(
                        sql: "SELECT id FROM alerts WHERE rule = ? AND subject = ? AND state = 'pending'"), arguments: [a.rule, a.subject])
                    try db.cachedStatement(sql: "DELETE FROM alerts WHERE rule = ? AND subject = ? AND state = 'pending'")
                        .execute(arguments: [a.rule, a.subject])
                    out.append(e)
                    continue
                case .resolve:
                    try db.cachedStatement(sql: """
                        UPDATE alerts SET state = 'resolved', since = ?, updated = ?, value = ?, value_t = ?, summary = ?,
                          summary_en = ?, summary_vi = ?
                        WHERE rule = ? AND subject = ? AND state IN ('pending', 'firing')
                        """).execute(arguments: [a.since, now, a.value, a.valueTime, a.summary, a.summaryEn, a.summaryVi, a.rule, a.subject])
                }
                // The row as it is now: its id, and its acknowledgement (given over the API,
                // kept or cleared above), so what is announced says what is stored.
                let row = try db.cachedStatement(
                    sql: "SELECT id, ack_by, ack_at, ack_note, unit, zone FROM alerts WHERE rule = ? AND subject = ? ORDER BY id DESC LIMIT 1")
                if let r = try Row.fetchOne(row, arguments: [a.rule, a.subject]) {
                    e.alert.id = r["id"]
                    e.alert.acknowledgedBy = r["ack_by"]
                    e.alert.acknowledgedAt = r["ack_at"]
                    e.alert.note = r["ack_note"]
                    e.alert.unit = e.alert.unit ?? r["unit"]
                    e.alert.zone = e.alert.zone ?? r["zone"]
                }
                out.append(e)
            }
            return out
        }
    }

    /// Pending and firing alerts (for the engine at start).
    public func live() throws -> [Alert] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE state IN ('pending', 'firing')").map(Self.alert) }
    }

    /// Deletes resolved (and cancelled) alerts last changed before `before` (`storage.alert_retention`);
    /// how many went. Live ones stay, however old.
    public func pruneResolved(before: EpochMillis) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM alerts WHERE state IN ('resolved', 'cancelled') AND updated < ?", arguments: [before])
            return db.changesCount
        }
    }

    /// Forgets the live alerts (they moved to the shared store: `PostgresAlertStore.takeOver`).
    public func forgetLive() throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM alerts WHERE state IN ('pending', 'firing')") }
    }

    /// Alerts in the given states, newest first.
    public func list(states: [String], limit: Int) async throws -> [Alert] {
        try await pool.read { db in
            let marks = states.map { _ in "?" }.joined(separator: ",")
            var args = StatementArguments(states)
            args += [limit]
            return try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE state IN (\(marks)) ORDER BY id DESC LIMIT ?",
                                    arguments: args).map(Self.alert)
        }
    }

    /// Marks an alert acknowledged; nil when there is no such alert.
    public func acknowledge(id: Int64, by: String, note: String?, at: EpochMillis) async throws -> Alert? {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alerts SET ack_by = ?, ack_at = ?, ack_note = ? WHERE id = ?", arguments: [by, at, note, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM alerts WHERE id = ?", arguments: [id]).map(Self.alert)
        }
    }

    /// Acknowledges those of `ids` that are still live and not acknowledged yet, in one
    /// transaction; returns them as they are now.
    public func acknowledge(ids: [Int64], by: String, note: String?, at: EpochMillis) async throws -> [Alert] {
        guard !ids.isEmpty else { return [] }
        return try await pool.write { db in
            var out: [Alert] = []
            let update = try db.cachedStatement(sql: """
                UPDATE alerts SET ack_by = ?, ack_at = ?, ack_note = ?
                WHERE id = ? AND ack_by IS NULL AND state IN ('pending', 'firing')
                """)
            for id in ids {
                try update.execute(arguments: [by, at, note, id])
                guard db.changesCount > 0 else { continue }
                if let a = try Row.fetchOne(db, sql: "SELECT * FROM alerts WHERE id = ?", arguments: [id]).map(Self.alert) { out.append(a) }
            }
            return out
        }
    }

    static func alert(_ r: Row) -> Alert {
        var a = Alert(id: r["id"], rule: r["rule"], subject: r["subject"],
                      severity: Severity(rawValue: r["severity"]) ?? .warning, state: r["state"], since: r["since"],
                      value: r["value"], valueTime: r["value_t"], summary: r["summary"])
        a.acknowledgedBy = r["ack_by"]
        a.acknowledgedAt = r["ack_at"]
        a.note = r["ack_note"]
        a.summaryEn = r["summary_en"]
        a.summaryVi = r["summary_vi"]
        a.unit = r["unit"]
        a.zone = r["zone"]
        return a
    }
}

import Foundation
import Synchronization
import Telemetry

/// Alerts in the PostgreSQL store several collectors share (table `alerts`; the store's
/// `SCHEMA.md`). Every collector lists and acknowledges all of them, so the operations room
/// sees the province's alerts and one acknowledgement through whichever collector it reaches.
/// Each collector's engine answers for the alerts of its `owner` (its partition, or the
/// collector itself without partitions): those it restores at start and adopts when it takes
/// the partition over.
///
/// Differences from the SQLite `AlertStore`: a pending alert that is cancelled keeps its row,
/// in state `cancelled` (listed by no state filter), so another collector can still read what
/// was announced; and every change is announced, at its commit, on channel `collector_alerts`
/// (`NOTIFY`, payload `<origin> <alert id> <number>`), which the other collectors pass to
/// their live feeds (`AlertFeed`).
public final class PostgresAlertStore: AlertRecords {
    /// The channel every change is announced on.
    public static let channel = "collector_alerts"

    private let store: PostgresStore
    private let owner: String
    /// This process, in the announcements (a collector skips its own).
    public let origin: String

    /// Alerts through `store`'s connection (one call at a time); `owner`: whose alerts this
    /// collector's engine answers for; `origin`: this process, unique among the collectors.
    /// The owner of the province-wide scopes' alerts (`provinceLive`).
    public static let provinceOwner = "(province)"
    /// Whether the province-wide scopes' alerts belong to the province (partitions with a
    /// province lease), not to this collector's `owner`.
    private let provinceWide: Bool

    /// How a change is written into its announcement, so that the other collectors relay the
    /// alert as it was then, not as its row is when they read it (nil: the id alone, for a
    /// store that announces nothing to a live stream).
    private let announce: (@Sendable (Alert) -> String)?

    /// `provinceWide`: the alerts of province-wide scopes (`DerivedScope.isProvinceWide`)
    /// are owned by the province lease's holder, whoever it is (`provinceOwner`). `announce`:
    /// the alert's form for the other collectors' live streams, sent with each change.
    public init(store: PostgresStore, owner: String, origin: String, provinceWide: Bool = false,
                announce: (@Sendable (Alert) -> String)? = nil) {
        self.store = store
        self.owner = owner
        self.origin = origin
        self.provinceWide = provinceWide
        self.announce = announce
    }

    private func owner(of a: Alert) -> String {
        provinceWide && DerivedScope.isProvinceWide(a.subject) ? Self.provinceOwner : owner
    }

    /// The columns `alert(_:)` reads, in its order.
    public static let columns = """
        id, rule, subject, severity, state, since, value, value_t, summary, ack_by, ack_at, ack_note, \
        summary_en, summary_vi, unit, zone
        """

    public func apply(_ events: [AlertEvent], now: EpochMillis) throws -> [AlertEvent] {
        try write(events, now: now, fence: nil)
    }

    /// Throws `PartitionFence.Stale` when a newer holder of a lease has written (readings or
    /// alerts), `AlertFence.NotHolder` when this collector holds no lease for a change's
    /// alert; nothing is written then.
    public func apply(_ events: [AlertEvent], now: EpochMillis, fence: AlertFence) throws -> [AlertEvent] {
        try write(events, now: now, fence: fence)
    }

    private func write(_ events: [AlertEvent], now: EpochMillis, fence: AlertFence?) throws -> [AlertEvent] {
        guard !events.isEmpty else { return [] }
        return try store.query { c in
            try c.transaction {
                if let fence {
                    // Each lease the changes fall under, checked once (the partition's row stays
                    // locked to the end of the transaction: an older holder's write waits, then fails).
                    let owners = Set(events.map { owner(of: $0.alert) })
                    for o in owners.sorted() {
                        let f = o == Self.provinceOwner ? fence.province : fence.partition
                        guard let f else { throw AlertFence.NotHolder(owner: o) }
                        try PartitionFence.check(c, f)
                    }
                }
                var out: [AlertEvent] = []
                for var e in events {
                    let a = e.alert
                    let key: [PostgresConnection.Value] = [.text(a.rule), .text(a.subject)]
                    switch e.action {
                    case .none:
                        break
                    case .pending, .fire:
                        // A severity change of a firing alert keeps its row and, unless the
                        // severity rose, its acknowledgement.
                        try c.execute("""
                            INSERT INTO alerts AS a (rule, subject, severity, state, since, updated, value, value_t, summary,
                                                     unit, zone, summary_en, summary_vi, owner)
                            VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10, $11, $12, $13, $14)
                            ON CONFLICT (rule, subject) WHERE state IN ('pending', 'firing') DO UPDATE SET
                              severity = excluded.severity, state = excluded.state, since = excluded.since,
                              updated = excluded.updated, value = excluded.value, value_t = excluded.value_t,
                              summary = excluded.summary, summary_en = excluded.summary_en, summary_vi = excluded.summary_vi,
                              unit = coalesce(excluded.unit, a.unit), zone = coalesce(excluded.zone, a.zone), owner = excluded.owner,
                              ack_by = CASE WHEN $15::boolean THEN NULL ELSE a.ack_by END,
                              ack_at = CASE WHEN $15::boolean THEN NULL ELSE a.ack_at END,
                              ack_note = CASE WHEN $15::boolean THEN NULL ELSE a.ack_note END
                            """, key + [.text(a.severity.rawValue), .text(a.state), .int(a.since), .int(now), Self.number(a.value),
                                        Self.int(a.valueTime), .text(a.summary), Self.text(a.unit), Self.text(a.zone),
                                        Self.text(a.summaryEn), Self.text(a.summaryVi), .text(owner(of: a)),
                                        .text(e.clearsAcknowledgement ? "true" : "false")])
                    case .cancel:
                        // Its own row (not an older alert's of the same rule and subject).
                        let row = try c.execute("""
                            UPDATE alerts SET state = 'cancelled', updated = $3 WHERE rule = $1 AND subject = $2 AND state = 'pending'
                            RETURNING id
                            """, key + [.int(now)]).first
                        e.alert.id = row?[0].flatMap { Int64($0) }
                        if e.alert.id != nil { try notify(e.alert, c) }
                        out.append(e)
                        continue
                    case .resolve:
                        try c.execute("""
                            UPDATE alerts SET state = 'resolved', since = $3, updated = $4, value = $5::float8, value_t = $6,
                              summary = $7, summary_en = $8, summary_vi = $9
                            WHERE rule = $1 AND subject = $2 AND state IN ('pending', 'firing')
                            """, key + [.int(a.since), .int(now), Self.number(a.value), Self.int(a.valueTime), .text(a.summary),
                                        Self.text(a.summaryEn), Self.text(a.summaryVi)])
                    }
                    // The row as it is now: its id, and its acknowledgement (given over the API,
                    // kept or cleared above), so what is announced says what is stored.
                    if let r = try c.execute("""
                        SELECT id, ack_by, ack_at, ack_note, unit, zone FROM alerts
                        WHERE rule = $1 AND subject = $2 AND state <> 'cancelled' ORDER BY id DESC LIMIT 1
                        """, key).first {
                        e.alert.id = r[0].flatMap { Int64($0) }
                        e.alert.acknowledgedBy = r[1]
                        e.alert.acknowledgedAt = r[2].flatMap { Int64($0) }
                        e.alert.note = r[3]
                        e.alert.unit = e.alert.unit ?? r[4]
                        e.alert.zone = e.alert.zone ?? r[5]
                        if e.action != .none, e.alert.id != nil { try notify(e.alert, c) }
                    }
                    out.append(e)
                }
                return out
            }
        }
    }

    /// Takes live alerts kept elsewhere (the file of the collector `source`, from before it ran
    /// on the shared store) as this collector's, each unless its rule and subject have a live
    /// row already, or it was taken before (`moved_from`: the source, its id and since there;
    /// a move done again after a crash, before the file forgot them, takes nothing, even of an
    /// alert resolved since); how many were taken. Each taken one is announced to the other
    /// collectors, as any change.
    public func takeOver(_ alerts: [Alert], source: String, now: EpochMillis) throws -> Int {
        guard !alerts.isEmpty else { return 0 }
        return try store.query { c in
            try c.transaction {
                var taken = 0
                for a in alerts where a.state == "pending" || a.state == "firing" {
                    let rows = try c.execute("""
                        INSERT INTO alerts (rule, subject, severity, state, since, updated, value, value_t, summary, unit, zone,
                                            summary_en, summary_vi, ack_by, ack_at, ack_note, owner, moved_from)
                        VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
                        ON CONFLICT DO NOTHING RETURNING id
                        """, [.text(a.rule), .text(a.subject), .text(a.severity.rawValue), .text(a.state), .int(a.since), .int(now),
                              Self.number(a.value), Self.int(a.valueTime), .text(a.summary), Self.text(a.unit), Self.text(a.zone),
                              Self.text(a.summaryEn), Self.text(a.summaryVi), Self.text(a.acknowledgedBy), Self.int(a.acknowledgedAt),
                              Self.text(a.note), .text(owner(of: a)), .text("\(source) \(a.id.map(String.init) ?? "-") \(a.since)")])
                    for row in rows {
                        guard let text = row.first ?? nil, let id = Int64(text) else { continue }
                        var moved = a
                        moved.id = id
                        try notify(moved, c)
                    }
                    taken += rows.count
                }
                return taken
            }
        }
    }

    /// Deletes every collector's resolved and cancelled alerts last changed before `before`
    /// (`storage.alert_retention`); how many went. Live ones stay, however old.
    public static func pruneResolved(_ store: PostgresStore, before: EpochMillis) throws -> Int {
        try store.query { c in
            try c.execute("DELETE FROM alerts WHERE state IN ('resolved', 'cancelled') AND updated < $1 RETURNING 1", [.int(before)]).count
        }
    }

    /// The subjects of the province-wide scopes, as `LIKE` patterns.
    private static let provinceSubjects = PostgresArray.texts(DerivedScope.provincePrefixes.map { $0 + "%" })

    /// The live alerts this collector's engine answers for. With `provinceWide`, those of a
    /// province-wide scope are the province's, whoever owned their row (a scope that became
    /// province-wide, such as a DMA's, may have a live alert its partition raised).
    public func live() throws -> [Alert] {
        try store.query { c in
            provinceWide
                ? try c.execute("""
                    SELECT \(Self.columns) FROM alerts WHERE state IN ('pending', 'firing') AND owner = $1
                      AND NOT subject LIKE ANY($2::text[]) ORDER BY id
                    """, [.text(owner), Self.provinceSubjects]).map(Self.alert)
                : try c.execute("SELECT \(Self.columns) FROM alerts WHERE state IN ('pending', 'firing') AND owner = $1 ORDER BY id",
                                [.text(owner)]).map(Self.alert)
        }
    }

    /// The live alerts of the province-wide scopes (the province lease's holder answers for
    /// them), whoever owned their row.
    public func provinceLive() throws -> [Alert] {
        try store.query { c in
            try c.execute("""
                SELECT \(Self.columns) FROM alerts WHERE state IN ('pending', 'firing')
                  AND (owner = $1 OR subject LIKE ANY($2::text[])) ORDER BY id
                """, [.text(Self.provinceOwner), Self.provinceSubjects]).map(Self.alert)
        }
    }

    public func list(states: [String], limit: Int) async throws -> [Alert] {
        try await blocking { [store] in
            try store.query { c in
                try c.execute("SELECT \(Self.columns) FROM alerts WHERE state = ANY($1::text[]) ORDER BY id DESC LIMIT $2",
                              [PostgresArray.texts(states), .int(Int64(limit))]).map(Self.alert)
            }
        }
    }

    /// Alerts by id, in no particular order (for the live feed).
    public func alerts(ids: [Int64]) throws -> [Alert] {
        try store.query { c in
            try c.execute("SELECT \(Self.columns) FROM alerts WHERE id = ANY($1::bigint[])", [PostgresArray.ints(ids)]).map(Self.alert)
        }
    }

    public func acknowledge(id: Int64, by: String, note: String?, at: EpochMillis) async throws -> Alert? {
        try await blocking { [self] in
            try store.query { c in
                try c.transaction {
                    guard let row = try c.execute("""
                        UPDATE alerts SET ack_by = $2, ack_at = $3, ack_note = $4 WHERE id = $1 RETURNING \(Self.columns)
                        """, [.int(id), .text(by), .int(at), Self.text(note)]).first else { return nil }
                    let a = Self.alert(row)
                    try notify(a, c)
                    return a
                }
            }
        }
    }

    public func acknowledge(ids: [Int64], by: String, note: String?, at: EpochMillis) async throws -> [Alert] {
        guard !ids.isEmpty else { return [] }
        return try await blocking { [self] in
            try store.query { c in
                try c.transaction {
                    let rows = try c.execute("""
                        UPDATE alerts SET ack_by = $2, ack_at = $3, ack_note = $4
                        WHERE id = ANY($1::bigint[]) AND ack_by IS NULL AND state IN ('pending', 'firing')
                        RETURNING \(Self.columns)
                        """, [PostgresArray.ints(ids), .text(by), .int(at), Self.text(note)]).map(Self.alert)
                    for a in rows where a.id != nil { try notify(a, c) }
                    // In the order asked for, as the SQLite store answers.
                    let position = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
                    return rows.sorted { position[$0.id ?? 0] ?? 0 < position[$1.id ?? 0] ?? 0 }
                }
            }
        }
    }

    /// Announces a change of `alert` (its id set), delivered to the listeners when the
    /// transaction commits: `<origin> <id> <number>`, then a newline and the alert's `announce`
    /// form when there is one and it fits (PostgreSQL's payloads stop at 8,000 bytes). (Each
    /// payload numbered: PostgreSQL folds identical notifications of one transaction into one,
    /// and an alert that fired and resolved in one batch is two changes.)
    private func notify(_ alert: Alert, _ c: PostgresConnection) throws {
        guard let id = alert.id else { return }
        let n = sent.wrappingAdd(1, ordering: .relaxed).newValue
        var payload = "\(origin) \(id) \(n)"
        if let form = announce?(alert), payload.utf8.count + 1 + form.utf8.count <= Self.maxPayload { payload += "\n" + form }
        try c.execute("SELECT pg_notify($1, $2)", [.text(Self.channel), .text(payload)])
    }
    private let sent = Atomic<Int64>(0)
    static let maxPayload = 7_900

    /// A payload of `channel`: who sent it, which alert changed, and the alert as it was then
    /// when the payload carries it (nil: not one of ours).
    public static func parse(_ payload: String) -> (origin: String, id: Int64, form: String?)? {
        let lines = payload.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3, let id = Int64(parts[1]) else { return nil }
        return (String(parts[0]), id, lines.count > 1 ? String(lines[1]) : nil)
    }

    private static func text(_ s: String?) -> PostgresConnection.Value { s.map { .text($0) } ?? .null }
    private static func int(_ v: Int64?) -> PostgresConnection.Value { v.map { .int($0) } ?? .null }
    private static func number(_ v: Double?) -> PostgresConnection.Value { v.map { .text(PostgresArray.float8($0)) } ?? .null }

    /// A row of `columns`.
    static func alert(_ r: [String?]) -> Alert {
        var a = Alert(id: r[0].flatMap { Int64($0) }, rule: r[1] ?? "", subject: r[2] ?? "",
                      severity: Severity(rawValue: r[3] ?? "") ?? .warning, state: r[4] ?? "", since: r[5].flatMap { Int64($0) } ?? 0,
                      value: r[6].flatMap { Double($0) }, valueTime: r[7].flatMap { Int64($0) }, summary: r[8] ?? "")
        a.acknowledgedBy = r[9]
        a.acknowledgedAt = r[10].flatMap { Int64($0) }
        a.note = r[11]
        a.summaryEn = r[12]
        a.summaryVi = r[13]
        a.unit = r[14]
        a.zone = r[15]
        return a
    }
}

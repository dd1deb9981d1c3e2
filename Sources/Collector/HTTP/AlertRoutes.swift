import Alerts
import Foundation
import Hummingbird
import Telemetry

/// `GET /api/v1/alerts`, `POST /api/v1/alerts/{id}/ack`, the alert stream, and the same
/// alerts in groups: `GET /api/v1/alert-groups`, `POST /api/v1/alert-groups/ack`.
struct AlertRoutes: Sendable {
    let store: any AlertRecords
    let broadcaster: AlertBroadcaster
    let system: SystemAlerts
    let clock: any WallClock
    /// For grouping by a level the catalogue declares.
    let live: LiveCatalogue

    /// Only the lists (`collector serve`, perhaps on a replica): no acknowledgements, no stream.
    var readOnly = false

    func register(on router: Router<BasicRequestContext>) {
        router.read("/api/v1/alerts") { request, _ in try await list(request) }
        router.read("/api/v1/alert-groups") { request, _ in try await groups(request) }
        guard !readOnly else { return }
        router.get("/api/v1/alerts/stream") { _, _ in stream() }
        router.post("/api/v1/alerts/:id/ack") { request, context in
            try await ack(request, id: context.parameters.get("id") ?? "")
        }
        router.post("/api/v1/alert-groups/ack") { request, _ in try await ackGroup(request) }
    }

    /// The alerts of `state` (live by default).
    private func states(_ q: QueryParameters, allowResolved: Bool = true) throws -> [String] {
        switch q.string("state") ?? "live" {
        case "live": return ["pending", "firing"]
        case "pending": return ["pending"]
        case "firing": return ["firing"]
        case "resolved" where allowResolved: return ["resolved"]
        case "all" where allowResolved: return ["pending", "firing", "resolved"]
        default: throw APIError.badParameter("state", allowResolved ? "must be live, pending, firing, resolved or all"
                                                                     : "must be live, pending or firing")
        }
    }

    func list(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let states = try states(q)
        let limit = try q.int("limit", in: 1...5000) ?? 500
        // The collector's own alerts (not stored) first, then the stored ones.
        let alerts = system.all.filter { states.contains($0.state) } + (try await store.list(states: states, limit: limit))
        var j = JSONText()
        j.array { a in for alert in alerts { AlertJSON.write(alert, into: &a) } }
        return j.response()
    }

    func ack(_ request: Request, id text: String) async throws -> Response {
        guard let id = Int64(text) else { throw APIError.badParameter("id", "must be an alert id") }
        var request = request
        let body = try await request.collectBody(upTo: 16_384)
        var by = "", note: String?
        if body.readableBytes > 0 {
            guard let o = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
                throw APIError.badParameter("body", "must be a JSON object like {\"by\": \"duty officer\", \"note\": \"...\"}")
            }
            by = (o["by"] as? String) ?? ""
            note = o["note"] as? String
        }
        guard !by.isEmpty, by.count <= 200 else { throw APIError.badParameter("by", "who acknowledges is required (at most 200 characters)") }
        guard let alert = try await store.acknowledge(id: id, by: by, note: note.map { String($0.prefix(2000)) }, at: clock.now()) else {
            throw APIError.notFound("no alert \(id)")
        }
        var j = JSONText()
        AlertJSON.write(alert, into: &j)
        broadcaster.send(String(decoding: j.bytes, as: UTF8.self))
        return j.response()
    }

    /// The labels alerts can be grouped by, for messages.
    static func labelNames(_ catalogue: Catalogue) -> String {
        (["rule", "unit"] + catalogue.levels.map(\.id) + ["zone", "severity"]).joined(separator: ", ")
    }

    /// The most live alerts grouped in one answer.
    static let groupedLimit = 20_000

    /// Live alerts in groups (`by`, default `rule,unit`; any level the catalogue declares, such
    /// as `district`, too), the worst group first.
    func groups(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let states = try states(q, allowResolved: false)
        let catalogue = live.current
        var labels = AlertGroupLabel.defaults
        if let by = q.string("by") {
            labels = try by.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let l = AlertGroupLabel(String($0), catalogue: catalogue) else {
                    throw APIError.badParameter("by", "must be labels from \(Self.labelNames(catalogue)), separated by commas")
                }
                return l
            }
            guard Set(labels).count == labels.count else { throw APIError.badParameter("by", "names a label twice") }
        }
        let alerts = system.all.filter { states.contains($0.state) } + (try await store.list(states: states, limit: Self.groupedLimit))
        var j = JSONText()
        j.array { arr in
            for g in AlertGroup.group(alerts, by: labels, in: catalogue) {
                arr.object {
                    $0.field("labels") { o in
                        o.object { for (label, value) in g.labels { $0.field(named: label.name) { if let value { $0.string(value) } else { $0.null() } } } }
                    }
                    $0.field("severity") { $0.string(g.severity.rawValue) }
                    $0.field("count") { $0.int(Int64(g.alerts.count)) }
                    $0.field("firing") { $0.int(Int64(g.firing)) }
                    $0.field("pending") { $0.int(Int64(g.pending)) }
                    $0.field("unacknowledged") { $0.int(Int64(g.unacknowledged)) }
                    $0.field("since") { $0.seconds(g.since) }
                    $0.field("alerts") { a in a.array { a in for alert in g.alerts { AlertJSON.write(alert, into: &a) } } }
                }
            }
        }
        return j.response()
    }

    /// Acknowledges every live, unacknowledged member of a group at once: each records who and
    /// when; an alert that joins the group later is new and unacknowledged. Body:
    /// `{"by": "...", "note": "...", "group": {"rule": "flood-risk", "unit": "xa-sin-ho"}}`, and
    /// optionally `"ids": [...]`: only those members (the ones the officer saw).
    func ackGroup(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 16_384)
        guard let o = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw APIError.badParameter("body", "must be a JSON object like {\"by\": \"duty officer\", \"group\": {\"rule\": \"flood-risk\", \"unit\": \"xa-sin-ho\"}}")
        }
        let by = (o["by"] as? String) ?? ""
        guard !by.isEmpty, by.count <= 200 else { throw APIError.badParameter("by", "who acknowledges is required (at most 200 characters)") }
        guard let group = o["group"] as? [String: Any], !group.isEmpty else {
            throw APIError.badParameter("group", "must name the group's labels, e.g. {\"rule\": \"flood-risk\", \"unit\": \"xa-sin-ho\"}")
        }
        let catalogue = live.current
        var selector: [(label: AlertGroupLabel, value: String?)] = []
        for (key, value) in group {
            guard let label = AlertGroupLabel(key, catalogue: catalogue) else {
                throw APIError.badParameter("group", "'\(key)' is not a label (\(Self.labelNames(catalogue)))")
            }
            if value is NSNull { selector.append((label, nil)) }
            else if let text = value as? String { selector.append((label, text)) }
            else { throw APIError.badParameter("group", "'\(key)' must be a text or null") }
        }
        let note = (o["note"] as? String).map { String($0.prefix(2000)) }
        var seen: Set<Int64>?
        if let ids = o["ids"] {
            guard let list = ids as? [Any], list.count <= Self.groupedLimit else {
                throw APIError.badParameter("ids", "must be a list of alert ids")
            }
            seen = Set(try list.map { v -> Int64 in
                guard let n = v as? NSNumber, let id = Int64(exactly: n.doubleValue) else { throw APIError.badParameter("ids", "must be a list of alert ids") }
                return id
            })
        }
        let live = try await store.list(states: ["pending", "firing"], limit: Self.groupedLimit)
        let ids = live.filter { $0.acknowledgedBy == nil && AlertGroup.member($0, of: selector, in: catalogue) }.compactMap(\.id)
            .filter { seen?.contains($0) ?? true }
        let acknowledged = try await store.acknowledge(ids: ids, by: by, note: note, at: clock.now())
        var j = JSONText()
        j.object {
            $0.field("acknowledged") { $0.int(Int64(acknowledged.count)) }
            $0.field("alerts") { a in a.array { a in for alert in acknowledged { AlertJSON.write(alert, into: &a) } } }
        }
        for alert in acknowledged {
            var one = JSONText()
            AlertJSON.write(alert, into: &one)
            broadcaster.send(String(decoding: one.bytes, as: UTF8.self))
        }
        return j.response()
    }

    /// Server-Sent Events: one `alert` event per state change or acknowledgement, and a
    /// comment every 15 s so proxies keep the connection open.
    func stream() -> Response {
        let (events, keepAlive, after) = broadcaster.subscribe()
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(15))
                if !keepAlive() { return }
            }
        }
        let body = ResponseBody { writer in
            defer { heartbeat.cancel() }
            try await writer.write(ByteBuffer(string: ": collector alert stream\n\n"))
            var text = AlertStreamText(after: after)
            for await item in events { try await writer.write(ByteBuffer(string: text.next(item))) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

import Alerts
import Foundation
import Hummingbird
import Telemetry

/// `GET /api/v1/alerts` and `POST /api/v1/alerts/{id}/ack`.
struct AlertRoutes: Sendable {
    let store: AlertStore
    let broadcaster: AlertBroadcaster
    let system: SystemAlerts
    let clock: any WallClock

    func register(on router: Router<BasicRequestContext>) {
        router.read("/api/v1/alerts") { request, _ in try await list(request) }
        router.get("/api/v1/alerts/stream") { _, _ in stream() }
        router.post("/api/v1/alerts/:id/ack") { request, context in
            try await ack(request, id: context.parameters.get("id") ?? "")
        }
    }

    func list(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let states: [String]
        switch q.string("state") ?? "live" {
        case "live": states = ["pending", "firing"]
        case "pending": states = ["pending"]
        case "firing": states = ["firing"]
        case "resolved": states = ["resolved"]
        case "all": states = ["pending", "firing", "resolved"]
        default: throw APIError.badParameter("state", "must be live, pending, firing, resolved or all")
        }
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

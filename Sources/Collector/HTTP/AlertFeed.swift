import Alerts
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Telemetry

/// On a shared PostgreSQL store: passes the alert changes the other collectors make (their
/// engines' decisions, acknowledgements given through them) to this collector's live feed
/// (`/api/v1/alerts/stream`), as they commit, so the operations room sees the whole
/// province's alerts through any collector. Listens on `PostgresAlertStore.channel` on a
/// connection of its own, on a thread of its own; reads each changed alert as it is then.
///
/// A notification is delivered only to a listening session: after the connection is lost,
/// the feed connects again and sends its clients a gap (`event: gap`), on which the dashboard
/// reads the list again.
final class AlertFeed: Service, Sendable {
    private let url: String
    private let timeZone: TimeZoneID
    private let origin: String
    private let broadcaster: AlertBroadcaster
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)

    init(url: String, timeZone: TimeZoneID, origin: String, broadcaster: AlertBroadcaster, logger: Logger) {
        self.url = url
        self.timeZone = timeZone
        self.origin = origin
        self.broadcaster = broadcaster
        self.logger = logger
    }

    func run() async throws {
        let done = AsyncStream<Void>.makeStream()
        NamedThread.start("alert-feed") { [self] in
            listen()
            done.continuation.finish()
        }
        try? await gracefulShutdown()
        stopping.store(true, ordering: .releasing)
        for await _ in done.stream {}
    }

    private func listen() {
        var lost = false
        while !stopping.load(ordering: .acquiring) {
            do {
                let store = try PostgresStore(url: url, timeZone: timeZone, readOnly: true)
                let alerts = PostgresAlertStore(store: store, owner: "", origin: origin)
                try store.query { c in try c.execute("LISTEN \(PostgresAlertStore.channel)") }
                if lost {
                    logger.notice("alert feed listens to the shared store again; its clients were told to read the list again")
                    broadcaster.sendGap()
                    lost = false
                }
                while !stopping.load(ordering: .acquiring) {
                    let ids = try store.query { c in try c.notifications(timeoutMillis: 500) }.compactMap { n -> Int64? in
                        guard let (from, id) = PostgresAlertStore.parse(n.payload), from != origin else { return nil }
                        return id
                    }
                    guard !ids.isEmpty else { continue }
                    let byID = Dictionary(try alerts.alerts(ids: ids).compactMap { a in a.id.map { ($0, a) } },
                                          uniquingKeysWith: { a, _ in a })
                    // In the order they committed; an alert changed twice is sent as it is now, twice.
                    for id in ids { if let a = byID[id] { broadcaster.send(String(decoding: AlertJSON.encode(a).bytes, as: UTF8.self)) } }
                }
            } catch {
                if !lost {
                    logger.warning("alert feed lost the shared store; other collectors' alert changes reach this one's stream again once it answers",
                                   metadata: ["error": "\(error)"])
                }
                lost = true
                for _ in 0..<10 where !stopping.load(ordering: .acquiring) { usleep(200_000) }
            }
        }
    }
}

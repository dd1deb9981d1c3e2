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
        start()
        try? await gracefulShutdown()
        stop()
    }

    /// Listens on a thread of its own until `stop`.
    func start() { NamedThread.start("alert-feed") { [self] in listen() } }

    /// Not waited for: a blocking call to an unreachable server must not hold up the shutdown
    /// (the thread ends at its next check, or with the process).
    func stop() { stopping.store(true, ordering: .releasing) }

    /// The connection's libpq settings: a server that stops answering (a host lost, a network
    /// cut) is noticed within about 30 s, not after the system's two hours of keepalive.
    static let liveness = ["connect_timeout": "10", "keepalives_idle": "10", "keepalives_interval": "5",
                           "keepalives_count": "3", "tcp_user_timeout": "30000"]

    private func listen() {
        var lost = false
        let url = PostgresConnection.withSettings(self.url, Self.liveness)
        while !stopping.load(ordering: .acquiring) {
            do {
                let store = try PostgresStore(url: url, timeZone: timeZone, readOnly: true)
                let alerts = PostgresAlertStore(store: store, owner: "", origin: origin)
                let listening = try store.query { c -> PostgresConnection in
                    try c.execute("LISTEN \(PostgresAlertStore.channel)")
                    return c
                }
                if lost {
                    logger.notice("alert feed listens to the shared store again; its clients were told to read the list again")
                    broadcaster.sendGap()
                    lost = false
                }
                var quiet = ContinuousClock.now
                while !stopping.load(ordering: .acquiring) {
                    // Each notification is checked against the connection this call holds: a
                    // lost one throws, and the feed connects (and listens) afresh.
                    let notes = try store.query { c -> [PostgresConnection.Notification] in
                        guard c === listening else { throw Relisten() }
                        return try c.notifications(timeoutMillis: 500)
                    }
                    let changes = notes.compactMap { n -> (id: Int64, form: String?)? in
                        guard let (from, id, form) = PostgresAlertStore.parse(n.payload), from != origin else { return nil }
                        return (id, form)
                    }
                    if changes.isEmpty {
                        // A probe every 10 s: a server that went away without a word is found out.
                        if ContinuousClock.now - quiet > .seconds(10) {
                            _ = try store.query { c in try c.execute("SELECT 1") }
                            quiet = ContinuousClock.now
                        }
                        continue
                    }
                    quiet = ContinuousClock.now
                    // In the order they committed, each as it was announced; one announced
                    // without its form (too large for a notification) as its row is now.
                    let unread = changes.filter { $0.form == nil }.map(\.id)
                    let byID = unread.isEmpty ? [:] : Dictionary(try alerts.alerts(ids: unread).compactMap { a in a.id.map { ($0, a) } },
                                                                 uniquingKeysWith: { a, _ in a })
                    for change in changes {
                        if let form = change.form { broadcaster.send(form) }
                        else if let a = byID[change.id] { broadcaster.send(String(decoding: AlertJSON.encode(a).bytes, as: UTF8.self)) }
                    }
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

/// The store connected again on its own: the new connection does not listen yet.
private struct Relisten: Error, CustomStringConvertible {
    var description: String { "the connection was lost and made again" }
}

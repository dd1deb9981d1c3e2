import Alerts
import Synchronization
import Telemetry

/// Alerts about the collector itself, which cannot live in SQLite (storage may be what is
/// failing): kept in memory, listed by `GET /api/v1/alerts` with the stored ones, and
/// announced like any alert (SSE, webhooks, Alertmanager, MQTT when it can get out).
///
/// `storage-failing` (critical) fires when a commit fails (a full disk, `storage.max_size`
/// reached, a lock held too long) and resolves at the next successful commit.
final class SystemAlerts: Sendable {
    private let alerts = Mutex<[String: Alert]>([:])

    var all: [Alert] { alerts.withLock { Array($0.values) } }

    /// The alert as it changed, or nil when nothing changed.
    func storage(ok: Bool, reason: String, subject: String, now: EpochMillis) -> AlertEvent? {
        alerts.withLock { a in
            switch (ok, a["storage-failing"]) {
            case (false, nil):
                let alert = Alert(rule: "storage-failing", subject: subject, severity: .critical, state: "firing", since: now,
                                  summary: "Storage refuses commits (\(reason)); acknowledgements are withheld and the broker keeps the messages")
                a["storage-failing"] = alert
                return AlertEvent(action: .fire, alert: alert)
            case (true, var alert?):
                a["storage-failing"] = nil
                alert.state = "resolved"
                alert.since = now
                alert.summary = "Storage accepts commits again"
                return AlertEvent(action: .resolve, alert: alert)
            default:
                return nil
            }
        }
    }
}

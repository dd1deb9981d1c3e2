import Alerts
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Telemetry

/// Sends alert changes to the configured webhooks and Alertmanagers (README, "Notifications").
/// Called on the ingest thread; every call only queues. As a Service it runs one delivery
/// task per target, and on shutdown gives queued notifications a few seconds to go out.
final class Notifiers: Service, Sendable {
    private let webhooks: [NotificationTarget]
    private let alertmanagers: [NotificationTarget]
    private let live: LiveCatalogue
    private let instance: String
    private let resendMillis: Int64
    private let lastResend = Mutex<EpochMillis>(0)
    private let drainUntil = Mutex<ContinuousClock.Instant?>(nil)

    init(config: CollectorConfig.NotifyConfig, catalogue: LiveCatalogue, instance: String,
         registry: PrometheusCollectorRegistry, logger: Logger) {
        func make(_ kind: String, _ t: CollectorConfig.NotifyConfig.Target, path: String) -> NotificationTarget? {
            guard let url = URL(string: t.url.hasSuffix("/") ? String(t.url.dropLast()) + path : t.url + path) else { return nil }
            return NotificationTarget(kind: kind, url: url, headers: t.headers, config: config, registry: registry, logger: logger)
        }
        webhooks = config.webhooks.compactMap { make("webhook", $0, path: "") }
        alertmanagers = config.alertmanagers.compactMap { make("alertmanager", $0, path: "/api/v2/alerts") }
        live = catalogue
        self.instance = instance
        resendMillis = config.resendMillis
    }

    var isEmpty: Bool { webhooks.isEmpty && alertmanagers.isEmpty }

    /// An alert fired or resolved, or a firing alert's severity changed (`previousSeverity`):
    /// webhooks get it again; Alertmanager, whose alerts are told apart by their labels
    /// (severity among them), gets the old one resolved with the new one.
    func changed(_ alert: Alert, previousSeverity: Severity? = nil, now: EpochMillis) {
        guard !isEmpty else { return }
        if !webhooks.isEmpty {
            let body = AlertJSON.encode(alert).bytes
            for w in webhooks { w.enqueue(body) }
        }
        if !alertmanagers.isEmpty {
            var alerts = [alert]
            if let previousSeverity {
                var old = alert
                old.severity = previousSeverity
                old.state = "resolved"
                old.since = now
                alerts.insert(old, at: 0)
            }
            let body = Self.alertmanagerBody(alerts, instance: instance, catalogue: live.current, now: now, resendMillis: resendMillis)
            for a in alertmanagers { a.enqueue(body) }
        }
    }

    /// Called every tick with the firing alerts: Alertmanager forgets an alert it stops hearing
    /// about, so they are sent again every `resend`.
    func resend(firing: @autoclosure () -> [Alert], now: EpochMillis) {
        guard !alertmanagers.isEmpty else { return }
        let due = lastResend.withLock { last in
            guard now - last >= resendMillis else { return false }
            last = now
            return true
        }
        guard due else { return }
        let alerts = firing()
        guard !alerts.isEmpty else { return }
        let body = Self.alertmanagerBody(alerts, instance: instance, catalogue: live.current, now: now, resendMillis: resendMillis)
        for a in alertmanagers { a.enqueue(body) }
    }

    func run() async throws {
        let targets = webhooks + alertmanagers
        guard !targets.isEmpty else { return }
        await withTaskGroup(of: Void.self) { group in
            for t in targets {
                group.addTask { [self] in await t.run(deadline: { self.drainUntil.withLock { $0 } }) }
            }
            group.addTask { [self] in
                try? await gracefulShutdown()
                drainUntil.withLock { $0 = .now + .seconds(3) }
                for t in targets { t.close() }
            }
            await group.waitForAll()
        }
    }

    /// The Alertmanager v2 `postableAlerts` body: labels alertname, severity, subject,
    /// instance (the MQTT client id), and unit, zone, kind from the catalogue when the
    /// subject is a catalogued sensor; annotation summary. A firing alert ends 4 resend
    /// intervals from now unless sent again; a resolved one ends when it resolved.
    static func alertmanagerBody(_ alerts: [Alert], instance: String, catalogue: Catalogue, now: EpochMillis,
                                 resendMillis: Int64) -> [UInt8] {
        var j = JSONText()
        j.array {
            for a in alerts {
                $0.object {
                    $0.field("labels") {
                        $0.object {
                            $0.field("alertname") { $0.string(a.rule) }
                            $0.field("severity") { $0.string(a.severity.rawValue) }
                            $0.field("subject") { $0.string(a.subject) }
                            $0.field("instance") { $0.string(instance) }
                            let sensor = a.subject.split(separator: ":").first.map(String.init) ?? a.subject
                            let e = catalogue.sensor(sensor)
                            // The alert's place (a zone or unit scope has one too), else the catalogue's.
                            if let u = a.unit ?? e?.unit {
                                $0.field("unit") { $0.string(u) }
                                // and its group at each level the catalogue declares (district: ...)
                                for level in catalogue.levels {
                                    if let g = catalogue.place(u, at: level.id) { $0.field(named: level.id) { $0.string(g) } }
                                }
                            }
                            if let k = e?.kind { $0.field("kind") { $0.string(k.rawValue) } }
                            if let z = a.zone ?? e?.zone { $0.field("zone") { $0.string(z) } }
                        }
                    }
                    $0.field("annotations") {
                        $0.object {
                            $0.field("summary") { $0.string(a.summary) }
                            if let en = a.summaryEn { $0.field("summary_en") { $0.string(en) } }
                            if let vi = a.summaryVi { $0.field("summary_vi") { $0.string(vi) } }
                            if let v = a.value { $0.field("value") { $0.string(String(v)) } }
                        }
                    }
                    let resolved = a.state == "resolved"
                    $0.field("startsAt") { $0.string(rfc3339(resolved ? min(a.since, now) - 1000 : a.since)) }
                    $0.field("endsAt") { $0.string(rfc3339(resolved ? a.since : now + 4 * resendMillis)) }
                }
            }
        }
        return j.bytes
    }

    static func rfc3339(_ t: EpochMillis) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(t) / 1000))
    }
}

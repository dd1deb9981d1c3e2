import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Prometheus
import Synchronization

/// One place alert changes are POSTed to (a webhook, or an Alertmanager's `/api/v2/alerts`).
///
/// `enqueue` never blocks the ingest thread: notifications wait in a bounded queue (when it
/// is full, new ones are dropped and counted) drained by this target's own task, which POSTs each
/// one, retrying with exponential back-off (`retry_base`, doubled, at most a minute) up to
/// `max_attempts` before giving it up. Every outcome is counted in `/metrics`.
final class NotificationTarget: Sendable {
    let name: String
    let url: URL
    private let headers: [String: String]
    private let config: CollectorConfig.NotifyConfig
    private let logger: Logger
    private let stream: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let depth = Atomic<Int>(0)
    private let sent: Counter, dropped: Counter, failed: Counter, retried: Counter
    private let queued: Gauge

    init(kind: String, url: URL, headers: [String: String], config: CollectorConfig.NotifyConfig,
         registry: PrometheusCollectorRegistry, logger: Logger) {
        name = "\(kind) \(url.absoluteString)"
        self.url = url
        self.headers = headers
        self.config = config
        self.logger = logger
        (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(config.queue))
        let target = [("kind", kind), ("url", url.absoluteString)]
        let outcome = IngestMetrics.named("collector_notifications_total", "Alert notifications by target and outcome")
        sent = registry.makeCounter(descriptor: outcome, labels: target + [("outcome", "sent")])
        dropped = registry.makeCounter(descriptor: outcome, labels: target + [("outcome", "dropped_queue_full")])
        failed = registry.makeCounter(descriptor: outcome, labels: target + [("outcome", "given_up")])
        retried = registry.makeCounter(descriptor: IngestMetrics.named("collector_notification_retries_total",
                                                                      "Failed attempts that were retried"), labels: target)
        queued = registry.makeGauge(descriptor: IngestMetrics.named("collector_notification_queue",
                                                                   "Notifications waiting to be sent"), labels: target)
    }

    /// Queues one request body; O(1), never blocks. When the queue is full the new one is
    /// dropped and counted (the queued ones are older changes still worth delivering in order).
    func enqueue(_ body: [UInt8]) {
        switch continuation.yield(body) {
        case .enqueued:
            queued.set(to: Double(depth.add(1, ordering: .relaxed).newValue))
        case .dropped:
            dropped.increment()
            logger.warning("notification queue full; dropping", metadata: ["target": "\(name)"])
        case .terminated:
            dropped.increment()
        @unknown default:
            dropped.increment()
        }
    }

    /// Stops taking notifications; `run` finishes what is queued (within `deadline`) and returns.
    func close() { continuation.finish() }

    /// Drains the queue until `close`. After close, remaining notifications get one attempt
    /// each until `deadline` passes.
    func run(deadline: @Sendable () -> ContinuousClock.Instant?) async {
        for await body in stream {
            queued.set(to: Double(depth.subtract(1, ordering: .relaxed).newValue))
            await deliver(body, deadline: deadline)
        }
    }

    private func deliver(_ body: [UInt8], deadline: @Sendable () -> ContinuousClock.Instant?) async {
        var delay = Duration.milliseconds(config.retryBaseMillis)
        for attempt in 1...config.maxAttempts {
            if let error = await post(body) {
                let past = deadline().map { ContinuousClock.now >= $0 } ?? false
                if attempt == config.maxAttempts || past {
                    failed.increment()
                    logger.error("notification given up", metadata: ["target": "\(name)", "attempts": "\(attempt)", "error": "\(error)"])
                    return
                }
                retried.increment()
                logger.warning("notification failed; retrying", metadata: ["target": "\(name)", "in": "\(delay)", "error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(60))
            } else {
                sent.increment()
                return
            }
        }
    }

    /// One POST; nil on a 2xx answer, else what went wrong.
    private func post(_ body: [UInt8]) async -> String? {
        var req = URLRequest(url: url, timeoutInterval: Double(config.timeoutMillis) / 1000)
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        req.httpBody = Data(body)
        do {
            let (data, resp) = try await URLSession.shared.data(for: req)
            let code = (resp as? HTTPURLResponse)?.statusCode ?? 0
            return (200..<300).contains(code) ? nil : "HTTP \(code): \(String(decoding: data.prefix(200), as: UTF8.self))"
        } catch {
            return "\(error.localizedDescription)"
        }
    }
}

import Prometheus

/// The ingest path's Prometheus series (exposed at `/metrics`).
struct IngestMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let messagesAccepted: Counter
    let messagesQuarantined: Counter
    let readingsInserted: Counter
    let readingsDuplicate: Counter
    let commits: Counter
    let commitFailures: Counter
    let commitSeconds: DurationHistogram
    let batchReadings: ValueHistogram
    let series: Gauge
    let connected: Gauge
    let reconnects: Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        messagesAccepted = registry.makeCounter(name: "collector_messages_total", labels: [("outcome", "accepted")])
        messagesQuarantined = registry.makeCounter(name: "collector_messages_total", labels: [("outcome", "quarantined")])
        readingsInserted = registry.makeCounter(name: "collector_readings_total", labels: [("outcome", "stored")])
        readingsDuplicate = registry.makeCounter(name: "collector_readings_total", labels: [("outcome", "duplicate")])
        commits = registry.makeCounter(name: "collector_commits_total")
        commitFailures = registry.makeCounter(name: "collector_commit_failures_total")
        commitSeconds = registry.makeDurationHistogram(name: "collector_commit_duration_seconds", buckets: [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ])
        batchReadings = registry.makeValueHistogram(name: "collector_commit_batch_readings",
                                                    buckets: [1, 10, 100, 1_000, 10_000, 100_000])
        series = registry.makeGauge(name: "collector_series")
        connected = registry.makeGauge(name: "collector_mqtt_connected")
        reconnects = registry.makeCounter(name: "collector_mqtt_connect_attempts_total")
    }

    func quarantined(reason: String) {
        registry.makeCounter(name: "collector_quarantine_total", labels: [("reason", reason)]).increment()
    }
}

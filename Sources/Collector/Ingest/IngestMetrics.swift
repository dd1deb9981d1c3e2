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
    /// LoRaWAN uplinks taken again whose frame was already stored.
    let repeatedFrames: Counter
    let commitSeconds: DurationHistogram
    let batchReadings: ValueHistogram
    let series: Gauge
    let connected: Gauge
    let reconnects: Counter
    /// Subscriptions the broker refused in its SUBACK (each cut the link).
    let subscriptionsRefused: Counter
    /// Seconds from the first message of a batch being read to its commit.
    let loopLag: Gauge
    /// Messages held in the last committed batch (read, decoded, waiting for the commit).
    let queueDepth: Gauge
    let alertQueue: Gauge
    /// Derived readings left out because their new series would exceed the series cap.
    let derivedDropped: Counter
    let derivedCorrections: Counter
    let rollupBacklog: Gauge
    let rawPending: Gauge
    /// Wall-clock time of the last successful commit, Unix seconds (with milliseconds).
    let lastCommit: Gauge

    /// A metric's full name with its help text.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// `collector_coverage_pct{indicator, scope}`: coverage indicators against the plan.
    static var coverage: MetricNameDescriptor { named("collector_coverage_pct", "Coverage indicator (percent), by indicator and scope") }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        messagesAccepted = registry.makeCounter(descriptor: Self.named("collector_messages_total", "MQTT messages by outcome"), labels: [("outcome", "accepted")])
        messagesQuarantined = registry.makeCounter(descriptor: Self.named("collector_messages_total", "MQTT messages by outcome"), labels: [("outcome", "quarantined")])
        readingsInserted = registry.makeCounter(descriptor: Self.named("collector_readings_total", "Readings by outcome (stored, or a duplicate of a stored one)"), labels: [("outcome", "stored")])
        readingsDuplicate = registry.makeCounter(descriptor: Self.named("collector_readings_total", "Readings by outcome (stored, or a duplicate of a stored one)"), labels: [("outcome", "duplicate")])
        commits = registry.makeCounter(descriptor: Self.named("collector_commits_total", "SQLite commits"))
        commitFailures = registry.makeCounter(descriptor: Self.named("collector_commit_failures_total", "SQLite commits that failed (their messages were not acknowledged)"))
        repeatedFrames = registry.makeCounter(descriptor: Self.named("collector_lorawan_repeated_frames_total",
                                                                     "LoRaWAN uplinks whose frame counter was already stored in the device's session (taken, not stored again)"))
        commitSeconds = registry.makeDurationHistogram(descriptor: Self.named("collector_commit_duration_seconds", "Time to commit one batch"), buckets: [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ])
        batchReadings = registry.makeValueHistogram(descriptor: Self.named("collector_commit_batch_readings", "Readings per committed batch"),
                                                    buckets: [1, 10, 100, 1_000, 10_000, 100_000])
        series = registry.makeGauge(descriptor: Self.named("collector_series", "Series known"))
        connected = registry.makeGauge(descriptor: Self.named("collector_mqtt_connected", "1 while connected to the broker"))
        reconnects = registry.makeCounter(descriptor: Self.named("collector_mqtt_connect_attempts_total", "Connection attempts to the broker"))
        subscriptionsRefused = registry.makeCounter(descriptor: Self.named("collector_mqtt_subscriptions_refused_total",
                                                                           "Subscriptions the broker refused (each cut the link, which was made again)"))
        loopLag = registry.makeGauge(descriptor: Self.named("collector_loop_lag_seconds", "From the first message of a batch being read to its commit, last batch"))
        queueDepth = registry.makeGauge(descriptor: Self.named("collector_queue_messages", "Messages in the last committed batch (read and waiting for the commit)"))
        alertQueue = registry.makeGauge(descriptor: Self.named("collector_alert_queue_readings", "Committed readings waiting for the alert worker (rules, derived series)"))
        derivedCorrections = registry.makeCounter(descriptor: Self.named("collector_derived_corrections_total", "Derived series corrected after a late input (each series from the input's time on)"))
        derivedDropped = registry.makeCounter(descriptor: Self.named("collector_derived_dropped_total", "Derived readings not stored: their new series would exceed limits.max_series and the reserve for derived series"))
        rollupBacklog = registry.makeGauge(descriptor: Self.named("collector_rollup_backlog_readings", "Committed readings handed to the rollup merger and not yet in the 1m tier (15m, 1h and 1d follow within 5 s)"))
        rawPending = registry.makeGauge(descriptor: Self.named("collector_raw_pending_readings", "Committed readings (journaled and queryable) not yet written to the raw table (written within about 10 s)"))
        lastCommit = registry.makeGauge(descriptor: Self.named("collector_last_commit_timestamp_seconds", "Wall-clock time of the last successful commit (Unix seconds): how fresh the stored data is"))
    }

    /// Live alerts by state (set every tick).
    func alerts(state: String, count: Int) {
        registry.makeGauge(descriptor: Self.named("collector_alerts", "Live alerts by state"), labels: [("state", state)]).set(to: Double(count))
    }

    /// MQTT alert messages: queued in libmosquitto, or not (no connection; firing alerts are
    /// published again on reconnect).
    func alertPublished(ok: Bool) {
        registry.makeCounter(descriptor: Self.named("collector_notifications_total", "Alert notifications by target and outcome"),
                             labels: [("kind", "mqtt"), ("url", ""), ("outcome", ok ? "sent" : "dropped_disconnected")]).increment()
    }

    func quarantined(reason: String) {
        registry.makeCounter(descriptor: Self.named("collector_quarantine_total", "Quarantined messages by reason"), labels: [("reason", reason)]).increment()
    }
}

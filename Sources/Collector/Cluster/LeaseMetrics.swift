import Prometheus

/// A lease's Prometheus series (at `/metrics`), labelled by lease (`partition` or `province`)
/// and partition: whether this collector holds it, and what happened to it. A partition whose
/// collectors all show `collector_lease_held 0` for long is ingested by nobody.
struct LeaseMetrics: Sendable {
    /// 1 while this collector holds the lease.
    let held: Gauge
    /// Leases taken (a create, a take after a whole lease unchanged, or a released key).
    let acquired: Counter
    /// Leases ended: refused by another holder's write, or lapsed without an answered renewal.
    let lost: Counter
    let lapsed: Counter
    /// Acknowledged writes the key-value store lost (its stream reset), and the step-downs asked of its leader.
    let lostWrites: Counter
    let stepDowns: Counter

    init(registry: PrometheusCollectorRegistry, lease: String, partition: String) {
        let labels = [("lease", lease), ("partition", partition)]
        func event(_ e: String) -> Counter {
            registry.makeCounter(descriptor: IngestMetrics.named("collector_lease_events_total", "What happened to a lease of this collector, by event"),
                                 labels: labels + [("event", e)])
        }
        held = registry.makeGauge(descriptor: IngestMetrics.named("collector_lease_held", "1 while this collector holds the lease"), labels: labels)
        acquired = event("acquired")
        lost = event("lost")
        lapsed = event("lapsed")
        lostWrites = event("lost_write")
        stepDowns = event("step_down")
    }
}

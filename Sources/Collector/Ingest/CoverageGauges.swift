import Prometheus

/// `collector_coverage_pct{indicator, scope}`, as the alert stage computes them, and gone when
/// this collector stops computing them (another took the province lease): a former holder's
/// figures would otherwise stay on its `/metrics`, older each scrape. The alert worker's
/// thread owns it.
final class CoverageGauges {
    private let registry: PrometheusCollectorRegistry
    private var shown: [String: Gauge] = [:]

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func set(_ indicator: String, _ scope: String, _ value: Double) {
        let key = indicator + "\u{1F}" + scope
        let gauge = shown[key] ?? registry.makeGauge(descriptor: IngestMetrics.coverage, labels: [("indicator", indicator), ("scope", scope)])
        shown[key] = gauge
        gauge.set(to: value)
    }

    func clear() {
        for gauge in shown.values { registry.unregisterGauge(gauge) }
        shown.removeAll()
    }
}

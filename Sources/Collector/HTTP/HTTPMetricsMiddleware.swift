import Hummingbird
import Prometheus

/// Counts every HTTP request by route class and status, and times it:
/// `collector_http_requests_total{path, status}` and `collector_http_request_duration_seconds{path}`.
/// Rejections show here too: 401/403 (access), 400 (bad parameters), 413 (a body over the limit).
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let registry: PrometheusCollectorRegistry

    static var requests: MetricNameDescriptor { IngestMetrics.named("collector_http_requests_total", "HTTP requests by path and status") }
    static var durations: MetricNameDescriptor {
        IngestMetrics.named("collector_http_request_duration_seconds", "HTTP request handling time (streams: until the response starts)")
    }
    static var buckets: [Duration] { [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
                                      .milliseconds(500), .seconds(1), .seconds(5)] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let path = Self.pathClass(request.uri.path)
        do {
            let response = try await next(request, context)
            record(path, response.status.code, started)
            return response
        } catch let e as any HTTPResponseError {
            record(path, e.status.code, started)
            throw e
        } catch {
            record(path, 500, started)
            throw error
        }
    }

    private func record(_ path: String, _ status: Int, _ started: ContinuousClock.Instant) {
        registry.makeCounter(descriptor: Self.requests, labels: [("path", path), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.durations, labels: [("path", path)], buckets: Self.buckets)
            .record(ContinuousClock.now - started)
    }

    /// A bounded label: the route, with ids replaced (`/api/v1/alerts/{id}/ack`), unknown paths as `other`.
    static func pathClass(_ path: String) -> String {
        if knownPaths.contains(path) { return path }
        if path.hasPrefix("/api/v1/alerts/") && path.hasSuffix("/ack") { return "/api/v1/alerts/{id}/ack" }
        return "other"
    }
}

/// The routes `HTTPMetricsMiddleware` labels by name (built once, not per request).
private let knownPaths: Set<String> = [
    "/", "/healthz", "/readyz", "/metrics", "/api/v1/sensors", "/api/v1/series", "/api/v1/raw", "/api/v1/rollups",
    "/api/v1/alerts", "/api/v1/alerts/stream", "/api/v1/coverage", "/api/v1/coverage/daily", "/api/v1/quarantine",
    "/api/v1/alert-groups", "/api/v1/alert-groups/ack", "/api/v1/places", "/api/v2/write", "/write", "/api/v1/senml", "/ping", "/health", "/query",
]

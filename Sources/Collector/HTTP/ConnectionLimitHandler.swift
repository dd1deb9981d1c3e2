import Foundation
import NIOCore
import Prometheus
import Synchronization

/// How many HTTP connections are open, shared by every connection's `ConnectionLimitHandler`.
final class ConnectionCount: Sendable {
    /// The most connections served at once (`http.max_connections`, lowered to what the
    /// descriptor limit leaves: `effectiveLimit`).
    let limit: Int
    let open = Atomic<Int>(0)
    let refused: Counter
    let gauge: Gauge

    init(limit: Int, registry: PrometheusCollectorRegistry) {
        self.limit = limit
        refused = registry.makeCounter(descriptor: IngestMetrics.named(
            "collector_http_connections_refused_total", "HTTP connections closed at once because http.max_connections were open"))
        gauge = registry.makeGauge(descriptor: IngestMetrics.named("collector_http_connections", "HTTP connections open"))
    }

    /// Descriptors kept for everything but HTTP clients: SQLite's files, the MQTT sockets,
    /// notifier connections, the event loops' own.
    static let reservedDescriptors = 64

    /// `configured`, lowered so that HTTP clients can never take the last descriptors (a
    /// server out of descriptors cannot accept, and its event loop spins on the pending
    /// connection). Raises the soft `RLIMIT_NOFILE` to the hard limit first.
    static func effectiveLimit(configured: Int) -> (limit: Int, descriptors: Int) {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return (configured, -1) }
        if rl.rlim_cur < rl.rlim_max {
            var raised = rl
            raised.rlim_cur = rl.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { rl = raised }
        }
        let descriptors = rl.rlim_cur > rlim_t(Int.max) ? Int.max : Int(rl.rlim_cur)
        return (max(1, min(configured, descriptors - reservedDescriptors)), descriptors)
    }
}

/// Counts a connection while it is open; one beyond the limit is closed at once (counted).
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let count: ConnectionCount
    private var counted = false

    init(count: ConnectionCount) { self.count = count }

    func handlerAdded(context: ChannelHandlerContext) {
        let open = count.open.wrappingAdd(1, ordering: .relaxed).newValue
        counted = true
        count.gauge.set(to: Double(open))
        if open > count.limit {
            count.refused.increment()
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        guard counted else { return }
        counted = false
        let open = count.open.wrappingSubtract(1, ordering: .relaxed).newValue
        count.gauge.set(to: Double(open))
    }
}

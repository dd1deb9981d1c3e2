import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Prometheus

/// Closes an HTTP connection that has had no request in progress for `timeout` (`http.idle_timeout`)
/// and counts it in `collector_http_idle_closed_total{reason}`: `no_request` for a connection that
/// never completed a request head (a slow or stuck client), `keep_alive` for one idle after its
/// answers. It sits after HTTP decoding, so trickled bytes of an unfinished head are not activity;
/// a request being answered (an SSE stream, a long CSV) is never cut.
final class IdleConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static var closed: MetricNameDescriptor {
        IngestMetrics.named("collector_http_idle_closed_total", "HTTP connections closed after http.idle_timeout with no request in progress, by reason (no_request: a slow or stuck client)")
    }

    private let timeout: TimeAmount
    private let neverAsked: Counter
    private let keptAlive: Counter
    private var inProgress = 0
    private var served = false
    private var lastActive = NIODeadline.now()
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount, registry: PrometheusCollectorRegistry) {
        self.timeout = timeout
        neverAsked = registry.makeCounter(descriptor: Self.closed, labels: [("reason", "no_request")])
        keptAlive = registry.makeCounter(descriptor: Self.closed, labels: [("reason", "keep_alive")])
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { schedule(context, at: .now() + timeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        schedule(context, at: .now() + timeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { check?.cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inProgress += 1
            served = true
        }
        lastActive = .now()
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { inProgress = max(0, inProgress - 1) }
        lastActive = .now()
        context.write(data, promise: promise)
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        check?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.expire(context)
        }
    }

    private func expire(_ context: ChannelHandlerContext) {
        let due = lastActive + timeout
        guard inProgress == 0, due <= .now() else {
            schedule(context, at: inProgress == 0 ? due : .now() + timeout)
            return
        }
        (served ? keptAlive : neverAsked).increment()
        context.close(promise: nil)
    }
}

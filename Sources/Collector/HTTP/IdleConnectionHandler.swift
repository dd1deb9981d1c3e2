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
///
/// A request body must arrive at `minBodyRate` bytes a second or more, measured over windows of
/// `timeout` (`slow_body`): a trickle of a byte every few seconds no longer holds a connection
/// forever, while a gateway on a slow rural link (a few KB/s) gets through. A body still arriving
/// once its answer is sent (a 401 or 413 given before the body was read) is not waited for: the
/// connection closes after the answer (`answered_early`).
final class IdleConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static var closed: MetricNameDescriptor {
        IngestMetrics.named("collector_http_idle_closed_total", "HTTP connections closed after http.idle_timeout with no request in progress, by reason (no_request: a slow or stuck client)")
    }

    /// The slowest a request body may arrive, bytes a second.
    static let minBodyRate = 1024

    /// The counters by reason, made once for the server (a handler is made per connection).
    struct Counters: Sendable {
        let neverAsked: Counter
        let keptAlive: Counter
        let slowBody: Counter
        let answeredEarly: Counter

        init(registry: PrometheusCollectorRegistry) {
            neverAsked = registry.makeCounter(descriptor: IdleConnectionHandler.closed, labels: [("reason", "no_request")])
            keptAlive = registry.makeCounter(descriptor: IdleConnectionHandler.closed, labels: [("reason", "keep_alive")])
            slowBody = registry.makeCounter(descriptor: IdleConnectionHandler.closed, labels: [("reason", "slow_body")])
            answeredEarly = registry.makeCounter(descriptor: IdleConnectionHandler.closed, labels: [("reason", "answered_early")])
        }
    }

    private let timeout: TimeAmount
    private let neverAsked: Counter
    private let keptAlive: Counter
    private let slowBody: Counter
    private let answeredEarly: Counter
    private var inProgress = 0
    /// Between the head of a request that announced a body and the end of that body.
    private var receiving = false
    /// Body bytes since `windowStart`.
    private var windowBytes = 0
    private var windowStart = NIODeadline.now()
    /// Closing after an answer given before its request's body arrived.
    private var closing = false
    private var served = false
    private var lastActive = NIODeadline.now()
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount, counters: Counters) {
        self.timeout = timeout
        neverAsked = counters.neverAsked
        keptAlive = counters.keptAlive
        slowBody = counters.slowBody
        answeredEarly = counters.answeredEarly
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
        switch unwrapInboundIn(data) {
        case .head(let head):
            inProgress += 1
            served = true
            // Only a request that announced a body is waiting for one.
            receiving = head.headerFields[.transferEncoding] != nil || (head.headerFields[.contentLength].flatMap { Int($0) } ?? 0) > 0
            windowBytes = 0
            windowStart = .now()
            lastActive = .now()
        case .body(let part):
            // Body bytes count toward the rate, not as activity: a trickle is not a request.
            windowBytes += part.readableBytes
        case .end:
            receiving = false
            lastActive = .now()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            lastActive = .now()
            context.write(data, promise: promise)
            return
        }
        inProgress = max(0, inProgress - 1)
        lastActive = .now()
        // Early only when the request answered is the one whose body is arriving: a pipelined
        // request's body may be arriving (or waiting to be read) behind an earlier answer.
        guard receiving, inProgress == 0, !closing else {
            context.write(data, promise: promise)
            return
        }
        // Answered before its body arrived: the rest is not waited for.
        closing = true
        answeredEarly.increment()
        let written = promise ?? context.eventLoop.makePromise()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
        context.writeAndFlush(data, promise: written)
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
        let now = NIODeadline.now()
        if receiving && inProgress > 1 {
            // Its body is not read while an earlier request is answered: no rate to hold it to.
            windowBytes = 0
            windowStart = now
        }
        if receiving, now - windowStart >= timeout {
            // At least a window's worth of bytes, however late this check runs (a busy event
            // loop reading late must not count against the client).
            let seconds = Double(timeout.nanoseconds) / 1e9
            if Double(windowBytes) < Double(Self.minBodyRate) * seconds {
                slowBody.increment()
                context.close(promise: nil)
                return
            }
            windowBytes = 0
            windowStart = now
        }
        if receiving {
            schedule(context, at: windowStart + timeout)
            return
        }
        let due = lastActive + timeout
        guard inProgress == 0, due <= .now() else {
            schedule(context, at: inProgress == 0 ? due : .now() + timeout)
            return
        }
        (served ? keptAlive : neverAsked).increment()
        context.close(promise: nil)
    }
}

import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Answers each GET without a body from the connection's pipeline: the request goes to the
/// router's responder (every middleware included) in a task, and the answer is written back
/// on the connection's event loop. Any other request (a write with its body, a HEAD, a GET
/// that announces a body) goes on to Hummingbird's connection task, as before.
///
/// Why: Hummingbird hands every connection to an async channel and a task of its own, made
/// through the server's accept loop, and reads each request there; each request and answer
/// crosses between the event loop and that task. A bare NIO server answered an empty GET on a
/// new connection in 0.23-0.40 ms where Hummingbird took 0.52-0.70 ms on this machine. Here the
/// connection task still exists, beside the answer instead of before it, and takes the same
/// CPU on two cores: an empty answer costs about 10 % less (0.48 -> 0.44 ms on a new
/// connection, 0.167 -> 0.150 ms on a kept one; BENCHMARKS.md).
///
/// Answers leave in the order of their requests (HTTP/1.1 pipelining): while a request is
/// answered, ours or Hummingbird's, the parts of the requests after it wait here, and the
/// socket is not read further, until that answer's end is on the socket (written, not just
/// queued: a client that sends and never reads holds up its own next request, and costs no
/// more than one read's worth of requests). A write that fails drops what waits and closes
/// the connection. A shutdown's quiesce event and a client's half-close wait for an answer
/// of ours in progress (Hummingbird's state handler and connection task, after this one, see
/// only their own requests).
final class QuickGetHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What every connection's handler shares: the router's responder and the header values.
    struct Shared: Sendable {
        let responder: any HTTPResponder<BasicRequestContext>
        let serverName: String?
        let logger: Logger
    }

    private let shared: Shared
    /// The current request's head was read and its end not yet.
    private var receiving = false
    /// The current request's answer has not ended yet.
    private var answering = false
    /// The current request is ours (a GET without a body), else Hummingbird's.
    private var quick: HTTPRequest?
    /// What came after the current request, in order: the parts of the next requests, and
    /// a decoding error (NIO's decoder fails on bytes after a `Connection: close` request, say),
    /// which Hummingbird answers with a 400 and a close: after the answers before it.
    private enum Waiting {
        case part(NIOAny)
        case error(any Error)
        /// The client's half-close (`ChannelEvent.inputClosed`).
        case event(Any)
    }
    private var waiting = CircularBuffer<Waiting>()
    /// A read asked for while parts wait: done once they are taken.
    private var readHeld = false
    /// A quiesce event held until our answer in progress ends.
    private var quiesceHeld: Any?
    /// A write failed or the connection went: nothing more is answered.
    private var closed = false

    init(_ shared: Shared) { self.shared = shared }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closed { return }
        if mustWait {
            waiting.append(.part(data))   // a request after one still being answered
            return
        }
        take(data, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if mustWait { waiting.append(.error(error)) } else { context.fireErrorCaught(error) }
    }

    /// An answer is still to end before what comes next.
    private var mustWait: Bool { !waiting.isEmpty || (!receiving && answering) }

    /// One part, in order: the current request's, or the head of the next.
    private func take(_ data: NIOAny, context: ChannelHandlerContext) {
        let part = unwrapInboundIn(data)
        if !receiving {
            guard case .head(let head) = part else {
                context.fireChannelRead(data)   // (the decoder sends nothing else first)
                return
            }
            receiving = true
            answering = true
            quick = head.method == .get && !Self.announcesBody(head.headerFields) ? head : nil
            if quick == nil { context.fireChannelRead(data) }
            return
        }
        if case .end = part { receiving = false }
        guard let head = quick else {
            context.fireChannelRead(data)
            return
        }
        if !receiving { answer(head, context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let ours = answering && quick != nil
        if event is ChannelShouldQuiesceEvent && ours {
            quiesceHeld = event
            return
        }
        if let e = event as? ChannelEvent, e == .inputClosed, ours || !waiting.isEmpty {
            waiting.append(.event(event))   // after the answers to what came before it
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        waiting.removeAll()
        context.fireChannelInactive()
    }

    static func announcesBody(_ fields: HTTPFields) -> Bool {
        if fields[.transferEncoding] != nil { return true }
        return fields[.contentLength].map { $0 != "0" } ?? false
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data), answering, quick == nil else {
            context.write(data, promise: promise)
            return
        }
        // The end of Hummingbird's answer: the next request's turn once it is on the socket.
        let written = promise ?? context.eventLoop.makePromise()
        context.write(data, promise: written)
        whenWritten(written.futureResult, context: context)
    }

    /// After an answer's end: the next request's turn, or (the write failed) the end.
    private func whenWritten(_ future: EventLoopFuture<Void>, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success: handler.answered(context: context)
            case .failure: handler.abandon(context: context)
            }
        }
    }

    /// A write failed: what waits is dropped and the connection closed.
    private func abandon(context: ChannelHandlerContext) {
        closed = true
        waiting.removeAll()
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty { context.read() } else { readHeld = true }
    }

    /// The current answer's end was written: the next request's parts are taken, up to the
    /// next answer to wait for.
    private func answered(context: ChannelHandlerContext) {
        answering = false
        quick = nil
        if let event = quiesceHeld {
            quiesceHeld = nil
            context.fireUserInboundEventTriggered(event)
        }
        var passed = false
        while !closed, let next = waiting.first, receiving || !answering {
            waiting.removeFirst()
            switch next {
            case .part(let data): take(data, context: context)
            case .error(let error): context.fireErrorCaught(error)
            case .event(let event): context.fireUserInboundEventTriggered(event)
            }
            passed = true
        }
        if passed { context.fireChannelReadComplete() }
        if waiting.isEmpty && readHeld {
            readHeld = false
            context.read()
        }
    }

    // MARK: Our answers

    private func answer(_ head: HTTPRequest, context: ChannelHandlerContext) {
        guard !closed else { return }
        let shared = shared
        let channel = context.channel
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let keepAlive = !Self.asksToClose(head.headerFields)
        Task {
            let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
            let requestContext = BasicRequestContext(source: .init(channel: channel, logger: shared.logger))
            var response: Response
            do {
                response = try await shared.responder.respond(to: request, context: requestContext)
            } catch {
                // (The router turns HTTP errors into their answers: this is anything else.)
                shared.logger.debug("unrecognised error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            if let name = shared.serverName { response.headers[.server] = name }
            if !keepAlive { response.headers[.connection] = "close" }
            let ending = PipelineBodyWriter.Ending()
            let writer = PipelineBodyWriter(handler: bound, head: response.head, contentLength: response.body.contentLength,
                                            closeAfter: !keepAlive, ending: ending)
            do {
                try await response.body.write(writer)
                if !ending.finished { throw CancellationError() }   // a body that never ended its answer
            } catch {
                // The client left, or the body failed half-way: nothing more can be said on
                // this connection.
                bound.eventLoop.execute { bound.value.0.abandon(context: bound.value.1) }
            }
        }
    }

    /// `Connection: close` among the request's connection options.
    static func asksToClose(_ fields: HTTPFields) -> Bool {
        fields[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }

    /// Writes parts of our answer (on the event loop); once its end is on the socket, the next
    /// request's turn, or after `Connection: close` our side of the connection closes (the
    /// client's side stays to be read and closed: a full close with its bytes unread would
    /// reset the connection and could destroy the answer).
    fileprivate func send(_ parts: [HTTPResponsePart], context: ChannelHandlerContext, closeAfter: Bool) -> EventLoopFuture<Void> {
        for p in parts.dropLast() { context.write(wrapOutboundOut(p), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(parts.last!))
        if case .end = parts.last! {
            if closeAfter {
                closed = true
                waiting.removeAll()
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                done.whenComplete { _ in
                    let (handler, context) = bound.value
                    context.close(mode: .output, promise: nil)
                    if let event = handler.quiesceHeld {   // (a shutdown: nothing more to wait for)
                        handler.quiesceHeld = nil
                        context.fireUserInboundEventTriggered(event)
                    }
                }
            } else {
                whenWritten(done, context: context)
            }
        }
        return done
    }
}

/// Writes an answer through the handler, on its event loop. A body of known length in one
/// buffer (every query's answer) goes with its head and end in one visit to the event loop; a
/// longer or unsized body (a CSV, an SSE stream) is flushed buffer by buffer, each write
/// awaited, so a slow reader holds the writer back.
private struct PipelineBodyWriter: ResponseBodyWriter {
    let handler: NIOLoopBound<(QuickGetHandler, ChannelHandlerContext)>
    let head: HTTPResponse
    let contentLength: Int?
    let closeAfter: Bool
    let ending: Ending
    private var headSent = false
    /// The first buffer of a sized body, held in case it is the whole body.
    private var held: ByteBuffer?

    /// Whether `finish` was called (the writer itself is consumed by the body).
    final class Ending {
        var finished = false
    }

    init(handler: NIOLoopBound<(QuickGetHandler, ChannelHandlerContext)>, head: HTTPResponse, contentLength: Int?,
         closeAfter: Bool, ending: Ending) {
        self.handler = handler
        self.head = head
        self.contentLength = contentLength
        self.closeAfter = closeAfter
        self.ending = ending
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        if contentLength != nil && !headSent && held == nil {
            held = buffer
            return
        }
        var parts: [HTTPResponsePart] = headSent ? [] : [.head(head)]
        if let h = held { parts.append(.body(h)); held = nil }
        parts.append(.body(buffer))
        headSent = true
        let (handler, frozen) = (handler, parts)
        try await handler.eventLoop.flatSubmit {
            let (h, c) = handler.value
            return h.send(frozen, context: c, closeAfter: false)
        }.get()
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        ending.finished = true
        var parts: [HTTPResponsePart] = headSent ? [] : [.head(head)]
        if let held { parts.append(.body(held)) }
        parts.append(.end(trailingHeaders))
        let (handler, frozen, closeAfter) = (handler, parts, closeAfter)
        handler.eventLoop.execute {
            let (h, c) = handler.value
            _ = h.send(frozen, context: c, closeAfter: closeAfter)
        }
    }
}

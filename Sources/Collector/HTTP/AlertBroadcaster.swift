import Foundation
import Synchronization

/// What an alert stream carries: an alert event with its sequence number, or a keep-alive.
enum AlertStreamItem: Sendable {
    case alert(id: UInt64, json: String)
    /// Events were missed upstream, how many is not known (`AlertBroadcaster.sendGap`).
    case gap(id: UInt64)
    case keepAlive
}

/// The text of an alert stream (Server-Sent Events): `id:` and `event: alert` per alert, a
/// comment per keep-alive, and before an alert whose number skips some, `event: gap` with how
/// many this client missed (its buffer was full), so it reloads the list; `event: gap` with
/// `{}` when events were missed upstream.
struct AlertStreamText {
    private var last: UInt64

    /// `after`: the number of the last event sent before the subscription.
    init(after: UInt64) { last = after }

    mutating func next(_ item: AlertStreamItem) -> String {
        switch item {
        case .keepAlive:
            return ": keep-alive\n\n"
        case .alert(let id, let json):
            defer { last = id }
            let gap = id > last + 1 ? "event: gap\ndata: {\"missed\":\(id - last - 1)}\n\n" : ""
            return gap + "id: \(id)\nevent: alert\ndata: \(json)\n\n"
        case .gap(let id):
            last = id
            return "id: \(id)\nevent: gap\ndata: {}\n\n"
        }
    }
}

/// Fans alert events out to Server-Sent-Events clients. `send` never blocks: each client has
/// one bounded buffer (newest kept), so a slow browser cannot hold back ingest. Events are
/// numbered in the order they are sent, the same numbers for every client: an event a client
/// missed (its buffer was full) is counted here (`onDrop`), and shows as a gap in its numbers,
/// which the stream tells the client (`event: gap`).
final class AlertBroadcaster: Sendable {
    private struct State {
        var clients: [UUID: AsyncStream<AlertStreamItem>.Continuation] = [:]
        var lastID: UInt64 = 0
        var closed = false
    }
    private let state = Mutex(State())
    /// Events a slow client may fall behind by before the oldest are dropped.
    static let bufferPerClient = 1000

    /// Called once per event a slow client missed (its buffer was full), for `/metrics`.
    let onDrop: @Sendable () -> Void

    init(onDrop: @escaping @Sendable () -> Void = {}) { self.onDrop = onDrop }

    /// A new subscription, how to put a keep-alive into it (false once the subscription
    /// ended), and the number of the last event sent before it; it ends when the client goes away.
    func subscribe() -> (events: AsyncStream<AlertStreamItem>, keepAlive: @Sendable () -> Bool, after: UInt64) {
        let id = UUID()
        let (stream, continuation) = AsyncStream<AlertStreamItem>.makeStream(bufferingPolicy: .bufferingNewest(Self.bufferPerClient))
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.clients.removeValue(forKey: id) }
        }
        let (open, after) = state.withLock { s in
            if !s.closed { s.clients[id] = continuation }
            return (!s.closed, s.lastID)
        }
        if !open { continuation.finish() }
        let onDrop = self.onDrop
        return (stream, {
            let r = continuation.yield(.keepAlive)
            if Self.evictedAnAlert(r) { onDrop() }
            if case .terminated = r { return false }
            return true
        }, after)
    }

    /// Ends every stream (graceful shutdown: open SSE responses must finish so HTTP can stop).
    func close() {
        let all = state.withLock { s in
            s.closed = true
            defer { s.clients.removeAll() }
            return Array(s.clients.values)
        }
        for c in all { c.finish() }
    }

    /// Sends one `alert` event (its data: the alert's JSON) to every client.
    func send(_ json: String) {
        let dropped = state.withLock { s in
            s.lastID += 1
            let item = AlertStreamItem.alert(id: s.lastID, json: json)
            return s.clients.values.reduce(0) { n, c in n + (Self.evictedAnAlert(c.yield(item)) ? 1 : 0) }
        }
        for _ in 0..<dropped { onDrop() }
    }

    /// Events were missed upstream (the shared store's feed was lost for a while): every
    /// client is told of a gap (`event: gap`), and reads the list again.
    func sendGap() {
        state.withLock { s in
            s.lastID += 1
            for c in s.clients.values { _ = c.yield(.gap(id: s.lastID)) }
        }
    }

    /// Whether a full buffer made room by dropping an alert (the oldest it held).
    private static func evictedAnAlert(_ r: AsyncStream<AlertStreamItem>.Continuation.YieldResult) -> Bool {
        if case .dropped(.alert) = r { return true }
        return false
    }

    var clientCount: Int { state.withLock { $0.clients.count } }
}

import ServiceLifecycle

/// Closes the alert streams when graceful shutdown starts. Listed last in the ServiceGroup,
/// so it is told first (the group shuts services down in reverse order).
struct AlertStreamCloser: Service {
    let broadcaster: AlertBroadcaster

    func run() async throws {
        try? await gracefulShutdown()
        broadcaster.close()
    }
}

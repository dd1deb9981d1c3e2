import Foundation
import Synchronization

/// Fans alert events out to Server-Sent-Events clients. `send` never blocks: each client has
/// a bounded buffer (newest kept), so a slow browser cannot hold back ingest.
final class AlertBroadcaster: Sendable {
    private let clients = Mutex<[UUID: AsyncStream<String>.Continuation]>([:])
    private let closed = Mutex(false)
    /// Events a slow client may fall behind by before the oldest are dropped.
    static let bufferPerClient = 1000

    /// A new subscription; it ends when the client goes away.
    func subscribe() -> AsyncStream<String> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(Self.bufferPerClient))
        continuation.onTermination = { [weak self] _ in
            _ = self?.clients.withLock { $0.removeValue(forKey: id) }
        }
        if closed.withLock({ $0 }) {
            continuation.finish()
        } else {
            clients.withLock { $0[id] = continuation }
        }
        return stream
    }

    /// Ends every stream (graceful shutdown: open SSE responses must finish so HTTP can stop).
    func close() {
        closed.withLock { $0 = true }
        let all = clients.withLock { c in defer { c.removeAll() }; return Array(c.values) }
        for c in all { c.finish() }
    }

    /// Called once per event a slow client missed (its buffer was full), for `/metrics`.
    let onDrop: @Sendable () -> Void

    init(onDrop: @escaping @Sendable () -> Void = {}) { self.onDrop = onDrop }

    /// Sends one `alert` event (its data: the alert's JSON) to every client.
    func send(_ json: String) {
        let dropped = clients.withLock { clients in
            clients.values.reduce(0) { n, c in
                if case .dropped = c.yield(json) { return n + 1 }
                return n
            }
        }
        for _ in 0..<dropped { onDrop() }
    }

    var clientCount: Int { clients.withLock { $0.count } }
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

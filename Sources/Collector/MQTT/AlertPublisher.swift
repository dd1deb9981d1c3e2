import CMosquitto
import Foundation
import Logging
import Synchronization
import Telemetry

/// Publishes alert messages on an MQTT connection of its own (client id `<client_id>-alerts`,
/// clean session), driven by a thread of its own:
///
///     alert worker: publish -> libmosquitto queues it and wakes this loop -> written at once
///
/// So an alert leaves as soon as it is raised, not after the ingest loop's next commit, and it
/// still leaves while the ingest connection is cut (a failing commit). The connection uses the
/// ingest connection's brokers (the next node of a cluster after each failure), protocol,
/// credentials and TLS. It reconnects with back-off
/// (1 s ... 30 s) whatever the error; `onConnected` runs after every (re)connection, on this
/// thread, so firing alerts can be published again.
final class AlertPublisher: @unchecked Sendable {
    private let config: CollectorConfig.MQTTConfig
    private let logger: Logger
    private let events = MosquittoClient.Events()
    private let client: MosquittoClient
    private let stopRequested = Atomic<Bool>(false)
    private let retryNow = Atomic<Bool>(false)
    /// Message ids published and not yet acknowledged by the broker.
    private let outstanding = Mutex<Set<Int32>>([])
    // Guarded by `cond`.
    private let cond = NSCondition()
    private var running = false
    /// The connection's state and the node in use (publisher thread only; the connect
    /// callback runs there too): the next node at once after a loss, back-off after a round.
    private var link: BrokerLink

    /// Called on this publisher's thread after each successful (re)connection.
    var onConnected: () -> Void = {}

    init(config: CollectorConfig.MQTTConfig, clientID: String, logger: Logger) throws {
        self.config = config
        self.logger = logger
        link = BrokerLink(now: .now, brokers: config.brokers.count)
        client = try MosquittoClient(clientID: clientID, cleanSession: true, events: events)
        try client.configure(config)
        events.onConnect = { [unowned self] rc in
            if rc == 0 {
                link.connected()
                logger.info("alert connection up", metadata: ["client_id": "\(clientID)", "broker": "\(config.brokers[link.broker])"])
                onConnected()
            } else {
                logger.warning("broker refused the alert connection", metadata: ["reason": "\(MosquittoClient.describeConnack(rc))"])
            }
        }
        events.onPublish = { [unowned self] mid in _ = outstanding.withLock { $0.remove(mid) } }
    }

    func start() {
        cond.lock()
        defer { cond.unlock() }
        guard !running else { return }
        running = true
        NamedThread.start("alert-publish") { [self] in run() }
    }

    /// Queues a QoS 1 message (any thread); libmosquitto writes it from this publisher's loop.
    /// While the connection is down the message waits in libmosquitto's queue.
    func publish(_ topic: String, _ payload: [UInt8], retain: Bool) -> Int32 {
        var mid: Int32 = 0
        let rc = client.publish(topic, payload, qos: 1, retain: retain, mid: &mid)
        if rc == MOSQ_ERR_SUCCESS.rawValue { outstanding.withLock { _ = $0.insert(mid) } }
        return rc
    }

    /// Cuts a back-off wait short (the ingest connection just reached the broker again).
    func reconnectSoon() {
        retryNow.store(true, ordering: .releasing)
    }

    /// Waits (at most `timeout`) until the broker has acknowledged every message published so
    /// far, then disconnects and stops the thread.
    func stop(timeout: Duration = .seconds(2)) {
        let deadline = ContinuousClock.now + timeout
        while !outstanding.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline && isConnected {
            Thread.sleep(forTimeInterval: 0.01)
        }
        stopRequested.store(true, ordering: .releasing)
        cond.lock()
        while running { cond.wait() }
        cond.unlock()
    }

    private var isConnected: Bool { client.socket >= 0 }

    private func run() {
        var connected = false
        while !stopRequested.load(ordering: .acquiring) {
            if !connected {
                let u = config.brokers[link.broker]
                let rc = client.connect(host: u.host, port: u.port, keepalive: config.keepalive, sessionExpiry: nil)
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    retryLater("cannot open the alert connection; retrying", broker: u, rc, connectFailed: true)
                    continue
                }
                link.connecting()
                connected = true
            }
            // select() on the socket and libmosquitto's wake-up pipe (a publish wakes it),
            // then read, write and keepalive.
            let rc = client.loop(timeoutMillis: 100)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                if !stopRequested.load(ordering: .acquiring) {
                    retryLater("alert connection down; retrying", broker: config.brokers[link.broker], rc, connectFailed: false)
                }
                connected = false
            }
        }
        if connected {
            _ = client.disconnect()
            _ = client.loop(timeoutMillis: 100)
        }
        cond.lock()
        running = false
        cond.broadcast()
        cond.unlock()
    }

    /// Marks the loss (the link moves to the next node) and waits what `BrokerLink` says.
    private func retryLater(_ message: String, broker: CollectorConfig.BrokerURL, _ rc: Int32, connectFailed: Bool) {
        guard let loss = link.lost(connectFailed: connectFailed, stopping: false, now: .now) else { return }
        logger.warning("\(message)", metadata: ["broker": "\(broker)", "error": "\(MosquittoClient.describe(rc))",
                                              "next": "\(config.brokers[link.broker])", "retry_in_s": "\(loss.retryInSeconds)"])
        sleep(seconds: loss.retryInSeconds)
    }

    /// Sleeps up to `seconds`, in short steps so `stop()` and `reconnectSoon()` are not held up.
    private func sleep(seconds: Int) {
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end && !stopRequested.load(ordering: .acquiring)
                && !retryNow.exchange(false, ordering: .acquiringAndReleasing) {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}

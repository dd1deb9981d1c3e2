import Foundation

/// A three-node `nats-server` cluster of the test's own on loopback (Debian's nats-server 2.9):
/// JetStream on every node, routes between them, and an MQTT 3.1.1 listener on each. Every
/// node has its own store directory; `kill(_:)` is SIGKILL, and `start(_:)` brings a node back
/// on the same ports with the same store.
final class NATSCluster: @unchecked Sendable {
    struct Node {
        let name: String
        let client: ReservedPort
        let route: ReservedPort
        let mqtt: ReservedPort
        var process: SpawnedProcess?
    }

    let dir: String
    private(set) var nodes: [Node] = []
    /// How long the nodes wait for our PUBACK before redelivering a QoS 1 message.
    let ackWait: String

    init(dir: String, nodes count: Int = 3, ackWait: String = "5s") throws {
        self.dir = dir
        self.ackWait = ackWait
        for i in 1...count {
            nodes.append(Node(name: "n\(i)", client: try ReservedPort(), route: try ReservedPort(), mqtt: try ReservedPort()))
        }
        let routes = nodes.map { "nats-route://127.0.0.1:\($0.route.port)" }.joined(separator: ", ")
        for n in nodes {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(n.name)", withIntermediateDirectories: true)
            let conf = """
                server_name: \(n.name)
                listen: 127.0.0.1:\(n.client.port)
                jetstream { store_dir: "\(dir)/\(n.name)/js" }
                cluster { name: province, listen: 127.0.0.1:\(n.route.port), routes: [\(routes)] }
                mqtt { listen: 127.0.0.1:\(n.mqtt.port), ack_wait: "\(ackWait)" }
                """
            try conf.write(toFile: "\(dir)/\(n.name).conf", atomically: true, encoding: .utf8)
        }
        for i in nodes.indices { try start(i) }
    }

    /// The MQTT URLs of the nodes, in order.
    var mqttURLs: [String] { nodes.map { "mqtt://127.0.0.1:\($0.mqtt.port)" } }
    /// The NATS client URLs of the nodes, in order.
    var clientURLs: [String] { nodes.map { "nats://127.0.0.1:\($0.client.port)" } }

    func start(_ i: Int) throws {
        let n = nodes[i]
        nodes[i].process = try SpawnedProcess(try which("nats-server"), ["-c", "\(dir)/\(n.name).conf"], logPath: "\(dir)/\(n.name).log")
    }

    /// SIGKILL: the node gets no chance to flush or hand anything over.
    func kill(_ i: Int) async throws {
        guard let p = nodes[i].process else { return }
        Foundation.kill(p.pid, SIGKILL)
        try await waitUntil("nats-server \(nodes[i].name) to die", seconds: 10) { !p.isRunning }
        nodes[i].process = nil
    }

    /// Waits until every running node takes a QoS 1 publish over MQTT: the cluster has a
    /// JetStream meta leader and the MQTT streams exist.
    func waitReady() async throws {
        for i in nodes.indices where nodes[i].process != nil {
            try await waitUntil("nats-server \(nodes[i].name) to take a QoS 1 publish", seconds: 30) {
                (try? publish(node: i, topic: "probe/ready", lines: ["ready"], seconds: 10)) != nil
            }
        }
    }

    /// Publishes each line as one QoS 1 message (MQTT 3.1.1) through node `i`.
    func publish(node i: Int, topic: String, lines: [String], seconds: Double = 60) throws {
        try runMosquittoPub(port: nodes[i].mqtt.port, ["-V", "mqttv311", "-q", "1", "-t", topic, "-l"],
                            stdin: lines.joined(separator: "\n") + "\n", seconds: seconds, dir: dir)
    }

    /// Publishes through node `i`, trying again (the whole batch: repeats are the collector's
    /// to deduplicate) while the cluster elects new leaders after a node was lost.
    func publishRetrying(node i: Int, topic: String, lines: [String]) async throws {
        var lastError: (any Error)?
        for _ in 0..<Int(20 * ciWaitFactor) {
            do { return try publish(node: i, topic: topic, lines: lines) } catch { lastError = error }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw HarnessError("publishing through \(nodes[i].name) kept failing: \(String(describing: lastError))")
    }

    func log(_ i: Int) -> String { (try? String(contentsOfFile: "\(dir)/\(nodes[i].name).log", encoding: .utf8)) ?? "" }

    func stop() {
        for i in nodes.indices {
            nodes[i].process?.stop()
            nodes[i].process = nil
        }
    }

    deinit { stop() }
}

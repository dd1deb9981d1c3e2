import Alerts
import Telemetry

/// The daemon's whole configuration (README, "Configuration"). Every field has the
/// built-in default that `collector run` uses without a config file.
struct CollectorConfig: Sendable {
    var mqtt = MQTTConfig()
    var http = HTTPConfig()
    var storage = StorageConfig()
    var timezone = TimeZoneID("Asia/Ho_Chi_Minh")!
    var sensors: String = "sensors/"
    /// Whether `sensors` was set explicitly (then it must exist).
    var sensorsConfigured = false
    /// Readings of sensors missing from the catalogue: stored and listed as unregistered, or quarantined.
    var unregisteredSensors: UnregisteredPolicy = .accept
    var limits = Limits()
    var coverage = CoverageConfig()
    var derived = DerivedConfig()
    var notify = NotifyConfig()
    /// Prometheus remote write targets the final rollup buckets go to (federation upwards).
    var remoteWrite: [RemoteWriteTarget] = []
    /// The partition this collector serves with others, one at a time (nil: alone).
    var partition: PartitionConfig?

    /// Several collectors share one partition (its topic filters and its MQTT session, the same
    /// `mqtt.client_id`): the holder of its lease, a key in a NATS cluster's key-value store,
    /// ingests; the others wait as standbys (README, "Partitions and standbys").
    struct PartitionConfig: Sendable, Equatable {
        /// The lease's key: the same in every collector of the partition.
        var name: String
        /// This collector, unique among them (default: the host name).
        var member: String
        /// The NATS cluster's client URLs (`nats://host:port`).
        var servers: [String]
        /// The key-value bucket (default `collector_lease_<name>`: one per partition).
        var bucket: String
        /// How long a lease lasts unless renewed.
        var leaseMillis: Int64 = 10_000
        /// With a shared store: how far back a collector that takes the partition over reads
        /// the partition's readings from it into its own file (0: not at all).
        var catchUpMillis: Int64 = 26 * 3_600_000
    }

    struct RemoteWriteTarget: Sendable, Equatable {
        var url: String
        var headers: [String: String] = [:]
        /// The tier whose buckets are sent.
        var tier: Tier = .minute
        /// How often final buckets are looked for.
        var intervalMillis: Int64 = 30_000
        /// How far back the first run starts (later runs go on from where the last stopped).
        var backfillMillis: Int64 = 7 * 86_400_000
    }
    var logLevel: String = "info"
    /// The language of alert summaries in notifications and the API (`summary`).
    var language: SummaryLanguage = .en

    struct MQTTConfig: Sendable {
        /// The brokers to use, in order: one broker (`url`), or the nodes of one cluster
        /// (`urls`), tried in turn when the link is lost. Never empty.
        var brokers = [BrokerURL(tls: false, host: "127.0.0.1", port: 1883)]
        /// The first broker.
        var url: BrokerURL { brokers[0] }
        var clientID = "collector-1"
        var cleanSession = false
        var qos: Int32 = 1
        var protocolVersion: MQTTProtocol = .v5
        var username: String?
        var passwordFile: String?
        var caFile: String?
        var certFile: String?
        var keyFile: String?
        var tlsInsecure = false
        var keepalive: Int32 = 30
        /// MQTT 5: how long the broker keeps our session (and queues for us) while we are away.
        var sessionExpirySeconds: UInt32 = 7 * 86_400
        /// MQTT 5: how many unacknowledged QoS 1 messages the broker may send us (1...65535).
        var receiveMaximum: Int32 = 10_000
        /// Most messages read into one commit batch.
        var maxBatchMessages = 10_000
        var subscriptions: [Subscription] = [Subscription(topic: "telemetry/#", format: .auto, qos: nil)]
    }

    struct Subscription: Sendable, Equatable {
        /// As written in the config, placeholders included.
        var topic: String
        var format: PayloadFormat
        var qos: Int32?
        /// Unit of line-protocol timestamps on this subscription.
        var precision: TimePrecision = .ns

        /// A `$share/<group>/` prefix, if any.
        var sharePrefix: Substring {
            guard topic.hasPrefix("$share/") else { return "" }
            let parts = topic.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count == 3 ? topic[..<parts[2].startIndex] : ""
        }

        /// The topic without the share prefix, placeholders parsed.
        var pattern: TopicPattern {
            (try? TopicPattern(String(topic.dropFirst(sharePrefix.count)))) ?? (try! TopicPattern("#"))
        }

        /// What the broker is asked for: placeholders become `+`.
        var subscribeTopic: String { String(sharePrefix) + pattern.filter }

        init(topic: String, format: PayloadFormat, qos: Int32?, precision: TimePrecision = .ns) {
            self.topic = topic
            self.format = format
            self.qos = qos
            self.precision = precision
        }
    }

    enum UnregisteredPolicy: String, Sendable {
        case accept, reject
    }

    enum MQTTProtocol: String, Sendable {
        case v5 = "5", v311 = "3.1.1"
    }

    struct BrokerURL: Sendable, Equatable, CustomStringConvertible {
        var tls: Bool
        var host: String
        var port: Int32
        var description: String { "\(tls ? "mqtts" : "mqtt")://\(host):\(port)" }

        /// Parses `mqtt://host[:port]` or `mqtts://host[:port]` (default ports 1883 / 8883).
        init?(parsing s: String) {
            let tls: Bool
            let rest: Substring
            if s.hasPrefix("mqtt://") { tls = false; rest = s.dropFirst(7) }
            else if s.hasPrefix("mqtts://") { tls = true; rest = s.dropFirst(8) }
            else { return nil }
            let hostPort = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let host: Substring
            var port: Int32 = tls ? 8883 : 1883
            if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
                host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
                let after = hostPort[hostPort.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let p = Int32(after.dropFirst()), (1...65535).contains(p) else { return nil }
                    port = p
                } else if !after.isEmpty { return nil }
            } else if let colon = hostPort.lastIndex(of: ":") {
                host = hostPort[..<colon]
                guard let p = Int32(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else { return nil }
                port = p
            } else {
                host = hostPort
            }
            guard !host.isEmpty else { return nil }
            self.init(tls: tls, host: String(host), port: port)
        }

        init(tls: Bool, host: String, port: Int32) {
            self.tls = tls
            self.host = host
            self.port = port
        }
    }

    struct HTTPConfig: Sendable {
        var host = "127.0.0.1"
        var port = 8080
        var openMetrics = false
        /// A connection that sends nothing (not even a whole request head) for this long is closed.
        var idleTimeoutMillis: Int64 = 30_000
        /// The most HTTP connections open at once; more are closed at once (counted).
        var maxConnections = 512
        /// Bearer tokens with roles; nil: no access control (keep HTTP on loopback then).
        var tokensFile: String?
    }

    struct StorageConfig: Sendable {
        var path = "data/collector.sqlite"
        var rawRetentionMillis: Int64 = 730 * 86_400_000
        var acceptAgeMillis: Int64 = 30 * 86_400_000
        /// How long each rollup tier keeps a bucket (nil: forever). Each is at least
        /// `accept_age`. A tier answered from raw readings (`TierSizing`) follows raw's instead.
        var rollupRetentionMillis: [Tier: Int64?] = [.minute: 730 * 86_400_000, .quarterHour: nil, .hour: nil, .day: nil]
        var durability: TelemetryDatabase.Durability = .normal
        var ringCapacity = 128
        var quarantineLimit = 10_000
        /// How long a resolved or cancelled alert is kept after its last change (nil: forever).
        var alertRetentionMillis: Int64? = 730 * 86_400_000
        /// A cap on the database file (a quota): past it commits fail as on a full disk.
        var maxSizeBytes: Int64?
        /// The shared PostgreSQL store (a libpq URL, several hosts allowed): every commit goes
        /// there first, then to the SQLite file, and the API answers from it (README, "The
        /// shared PostgreSQL store").
        var postgres: String?

        /// How long raw readings are kept: `raw_retention`, at least `accept_age` (they are the
        /// dedupe index).
        var rawKeepMillis: Int64 { max(rawRetentionMillis, acceptAgeMillis) }
    }

    struct CoverageConfig: Sendable {
        /// How often indicators are computed and stored as series.
        var intervalMillis: Int64 = 60_000
        var targets: [String: [CoverageTarget]] = CoverageCalculator.defaultTargets
    }


    /// Where alert changes are POSTed besides MQTT and SSE (README, "Notifications").
    struct NotifyConfig: Sendable {
        struct Target: Sendable, Equatable {
            var url: String
            var headers: [String: String] = [:]
        }
        var webhooks: [Target] = []
        /// Alertmanager base URLs; alerts go to `<url>/api/v2/alerts`.
        var alertmanagers: [Target] = []
        /// Notifications waiting per target before the oldest are dropped.
        var queue = 1000
        /// Attempts per notification before it is given up.
        var maxAttempts = 8
        /// First retry delay; doubled per attempt up to a minute.
        var retryBaseMillis: Int64 = 1000
        var timeoutMillis: Int64 = 10_000
        /// How often firing alerts are sent to Alertmanager again (it resolves alerts it stops hearing about).
        var resendMillis: Int64 = 60_000
    }

    struct Limits: Sendable {
        var maxPayloadBytes = 262_144
        var maxSeries = 200_000
        /// New series the network may create a minute (a burst of one minute's worth).
        var newSeriesPerMinute = 20_000
        var maxReadingsPerMessage = 100_000
        var maxTopicBytes = 512
    }
}

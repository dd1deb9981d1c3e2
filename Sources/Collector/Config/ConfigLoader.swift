import Alerts
import Foundation
import Telemetry
import Yams

/// Loads `CollectorConfig` from YAML. Unknown keys, bad values and files the daemon could
/// not use are all reported, each as `file:line: message`.
enum ConfigLoader {
    /// Loads `path`, or returns the built-in defaults when `path` is nil. An empty file means
    /// the defaults too, unless `refusingEmpty` (a reload: an empty file is a truncated one,
    /// not a wish to drop every setting).
    static func load(path: String?, refusingEmpty: Bool = false) throws(ConfigProblems) -> CollectorConfig {
        guard let path else { return CollectorConfig() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "cannot read the file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "the file is not UTF-8 text")])
        }
        return try parse(text, file: path, refusingEmpty: refusingEmpty)
    }

    /// The catalogue the configuration points at: empty when the default `sensors/` is absent,
    /// an error when an explicitly configured path is.
    static func catalogue(for config: CollectorConfig) throws(ConfigProblems) -> Catalogue {
        if !config.sensorsConfigured && !FileManager.default.fileExists(atPath: config.sensors) { return Catalogue() }
        return try CatalogueLoader.load(path: config.sensors)
    }

    static func parse(_ text: String, file: String, refusingEmpty: Bool = false) throws(ConfigProblems) -> CollectorConfig {
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                if refusingEmpty { throw ConfigProblems(problems: [ConfigProblem(file: file, line: 1, message: "the configuration file is empty")]) }
                return CollectorConfig()
            }
            root = n
        } catch let e as ConfigProblems {
            throw e
        } catch let e as YamlError {
            throw ConfigProblems(problems: [yamlProblem(e, file: file)])
        } catch {
            throw ConfigProblems(problems: [ConfigProblem(file: file, line: 1, message: "\(error)")])
        }
        let sink = ProblemSink()
        let config = read(YAMLMapping(root, file: file, sink: sink, what: "the configuration"))
        if !sink.problems.isEmpty { throw ConfigProblems(problems: sink.problems) }
        return config
    }

    private static func read(_ top: YAMLMapping) -> CollectorConfig {
        var c = CollectorConfig()
        if let m = top.mapping("mqtt") { readMQTT(m, into: &c.mqtt) }
        if let m = top.mapping("http") { readHTTP(m, into: &c.http) }
        if let m = top.mapping("storage") { readStorage(m, into: &c.storage) }
        if let tz = top.string("timezone") {
            if let z = TimeZoneID(tz) { c.timezone = z } else { top.problem("timezone", "unknown time zone '\(tz)' (use an IANA name such as Asia/Ho_Chi_Minh)") }
        }
        if let s = top.string("sensors") {
            c.sensors = s
            c.sensorsConfigured = true
        }
        if let u = top.string("unregistered_sensors") {
            if let p = CollectorConfig.UnregisteredPolicy(rawValue: u) { c.unregisteredSensors = p }
            else { top.problem("unregistered_sensors", "unregistered_sensors must be accept or reject") }
        }
        if let m = top.mapping("province") {
            if let r = m.int("region", in: 1...4) { c.derived.provinceRegion = r }
            m.finish("province")
        }
        if let m = top.mapping("limits") {
            if let v = m.int("max_payload_bytes", in: 64...16_777_216) { c.limits.maxPayloadBytes = v }
            if let v = m.int("max_series", in: 1...50_000_000) { c.limits.maxSeries = v }
            if let v = m.int("new_series_per_minute", in: 1...50_000_000) { c.limits.newSeriesPerMinute = v }
            if let v = m.int("max_readings_per_message", in: 1...10_000_000) { c.limits.maxReadingsPerMessage = v }
            if let v = m.int("max_topic_bytes", in: 16...65_535) { c.limits.maxTopicBytes = v }
            m.finish("limits")
        }
        if let m = top.mapping("coverage") {
            if let v = m.duration("interval") {
                if v >= 1000 { c.coverage.intervalMillis = v } else { m.problem("interval", "interval must be at least 1s") }
            }
            if let t = m.mapping("targets") {
                for key in t.allKeys() {
                    guard ["forest_monitored_pct", "meters_reporting_pct", "env_communes_pct", "junctions_monitored_pct"].contains(key) else {
                        t.problem(key, "unknown indicator '\(key)'")
                        continue
                    }
                    var list: [CoverageTarget] = []
                    for node in t.sequence(key) ?? [] {
                        let e = t.child(node, what: "a target")
                        if let y = e.int("year", in: 2000...2100), let p = e.double("pct", in: 0...100) { list.append(CoverageTarget(year: y, pct: p)) }
                        e.finish("a target")
                    }
                    c.coverage.targets[key] = list
                }
                t.finish("coverage.targets")
            }
            m.finish("coverage")
        }
        if let m = top.mapping("derived") { readDerived(m, into: &c.derived) }
        if let m = top.mapping("notify") { readNotify(m, into: &c.notify) }
        for node in top.sequence("remote_write") ?? [] {
            let e = top.child(node, what: "a remote_write target")
            let u = e.string("url")
            var t = CollectorConfig.RemoteWriteTarget(url: u ?? "")
            if let u, !((u.hasPrefix("http://") || u.hasPrefix("https://")) && URL(string: u)?.host != nil) {
                e.problem("url", "url '\(u)' is not http(s)://host[:port]/path")
            } else if u == nil {
                e.problem("url", "a remote_write target needs a url")
            }
            if let h = e.mapping("headers") { for k in h.allKeys() { if let v = h.string(k) { t.headers[k] = v } } }
            if let tier = e.string("tier") {
                if let v = Tier.allCases.first(where: { $0.description == tier }) { t.tier = v }
                else { e.problem("tier", "tier must be \(Tier.allCases.map(\.description).joined(separator: ", "))") }
            }
            if let v = e.duration("interval") { if v >= 1000 { t.intervalMillis = v } else { e.problem("interval", "interval must be at least 1s") } }
            if let v = e.duration("backfill") { t.backfillMillis = v }
            e.finish("a remote_write target")
            if u != nil { c.remoteWrite.append(t) }
        }
        if let l = top.string("language") {
            if let language = SummaryLanguage(rawValue: l) { c.language = language }
            else { top.problem("language", "language must be en or vi (the language of alert summaries in notifications and the API)") }
        }
        if let l = top.string("log_level") {
            if ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(l) { c.logLevel = l }
            else { top.problem("log_level", "log_level must be one of trace, debug, info, notice, warning, error, critical") }
        }
        if let m = top.mapping("partition") {
            c.partition = readPartition(m)
            if c.mqtt.cleanSession { top.problem("partition", "a partition needs mqtt.clean_session: false (its session passes from holder to holder)") }
        }
        top.finish("the configuration")
        return c
    }

    private static func readNotify(_ m: YAMLMapping, into n: inout CollectorConfig.NotifyConfig) {
        func targets(_ key: String) -> [CollectorConfig.NotifyConfig.Target] {
            var out: [CollectorConfig.NotifyConfig.Target] = []
            for node in m.sequence(key) ?? [] {
                let e = m.child(node, what: "a notification target")
                if let u = e.string("url") {
                    if (u.hasPrefix("http://") || u.hasPrefix("https://")) && URL(string: u)?.host != nil {
                        var t = CollectorConfig.NotifyConfig.Target(url: u)
                        if let h = e.mapping("headers") {
                            for k in h.allKeys() { if let v = h.string(k) { t.headers[k] = v } }
                        }
                        out.append(t)
                    } else {
                        e.problem("url", "url '\(u)' is not http(s)://host[:port]/path")
                    }
                } else {
                    e.problem("url", "a notification target needs a url")
                }
                e.finish("a notification target")
            }
            return out
        }
        n.webhooks = targets("webhooks")
        n.alertmanagers = targets("alertmanagers")
        if let v = m.int("queue", in: 1...1_000_000) { n.queue = v }
        if let v = m.int("max_attempts", in: 1...100) { n.maxAttempts = v }
        if let v = m.duration("retry_base") { n.retryBaseMillis = max(v, 10) }
        if let v = m.duration("timeout") { n.timeoutMillis = max(v, 100) }
        if let v = m.duration("resend") { n.resendMillis = max(v, 1000) }
        m.finish("notify")
    }

    private static func readDerived(_ m: YAMLMapping, into d: inout DerivedConfig) {
        if let v = m.double("rainy_day_mm", in: 0...1000) { d.rainyDayMM = v }
        if let v = m.int("outage_silent_intervals", in: 1...100) { d.outageSilentIntervals = Int64(v) }
        if let v = m.duration("rain_quiet_after") {
            if v >= 1000 { d.rainQuietAfterMillis = v } else { m.problem("rain_quiet_after", "rain_quiet_after must be at least 1s") }
        }
        if m.node("flood_risk") != nil, let t = floodTable(m, "flood_risk") { d.floodRisk = t }
        if let z = m.mapping("flood_risk_zones") {
            for zone in z.allKeys() { if let t = floodTable(z, zone) { d.floodRiskZones[zone] = t } }
            z.finish("derived.flood_risk_zones")
        }
        m.finish("derived")
    }

    /// A flood-risk table: a list of `{rain_24h_mm, earlier_days, level}` cases, each with an
    /// optional `susceptibility` (the least the area must have; default low: every area) and
    /// `above: true` (more than `rain_24h_mm`, not at least).
    private static func floodTable(_ m: YAMLMapping, _ key: String) -> FloodRiskTable? {
        guard let nodes = m.sequence(key) else { return nil }
        var cases: [FloodRiskTable.Case] = []
        for node in nodes {
            let e = m.child(node, what: "a flood-risk case")
            let r = e.double("rain_24h_mm", in: 0...10_000), d = e.int("earlier_days", in: 0...30), l = e.int("level", in: 1...5)
            var susceptibility = Susceptibility.low
            if let s = e.string("susceptibility") {
                if let v = Susceptibility(rawValue: s) { susceptibility = v }
                else { e.problem("susceptibility", "susceptibility must be low, medium, high or very_high") }
            }
            let above = e.bool("above") ?? false
            if let r, let d, let l {
                cases.append(FloodRiskTable.Case(rain24hMM: r, strictlyAbove: above, earlierDays: d, susceptibility: susceptibility, level: l))
            } else if let missing = ["rain_24h_mm", "earlier_days", "level"].first(where: { e.node($0) == nil }) {
                e.problem(missing, "a flood-risk case needs rain_24h_mm, earlier_days and level; '\(missing)' is missing")
            }
            e.finish("a flood-risk case")
        }
        return FloodRiskTable(cases: cases)
    }

    /// `partition: {name, member, nats, bucket, lease}`.
    private static func readPartition(_ m: YAMLMapping) -> CollectorConfig.PartitionConfig? {
        // Keys and bucket names NATS takes (a key may not start or end with a dot).
        func valid(_ s: String) -> Bool {
            !s.isEmpty && s.count <= 128 && !s.hasPrefix(".") && !s.hasSuffix(".")
                && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }
        }
        let name = m.string("name")
        if name == nil { m.problem("name", "a partition needs a name (the lease's key, the same in each of its collectors)") }
        else if !valid(name!) { m.problem("name", "partition name '\(name!)' may hold only letters, digits, '-' and '_'") }
        else if name == PartitionLease.provinceName {
            m.problem("name", "partition name '\(PartitionLease.provinceName)' is taken: it names the province's own lease and fence")
        }
        let member = m.string("member") ?? ProcessInfo.processInfo.hostName
        if !(1...128).contains(member.count) || member.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            m.problem("member", "member must be 1 to 128 characters, none of them control characters")
        }
        var servers: [String] = []
        for n in m.sequence("nats") ?? [] {
            guard let u = n.string, u.hasPrefix("nats://"), u.count > 7 else { m.problem(at: n, "every entry of nats must be nats://host:port"); continue }
            servers.append(u)
        }
        if m.node("nats") == nil { m.problem("partition", "a partition needs nats: the NATS cluster's client URLs, where its lease is kept") }
        else if servers.isEmpty { m.problem("nats", "nats needs at least one nats://host:port") }
        var p = CollectorConfig.PartitionConfig(name: name ?? "", member: member, servers: servers, bucket: "collector_lease_" + (name ?? ""))
        if let b = m.string("bucket") {
            if !valid(b) { m.problem("bucket", "bucket '\(b)' may hold only letters, digits, '-' and '_'") }
            else if b == PartitionLease.provinceBucket { m.problem("bucket", "bucket '\(b)' is the province lease's; give the partition another") }
            else { p.bucket = b }
        }
        if let v = m.duration("lease") {
            if (1_000...300_000).contains(v) { p.leaseMillis = v } else { m.problem("lease", "lease must be between 1s and 5m") }
        }
        if let v = m.duration("catch_up") {
            if (0...30 * 86_400_000).contains(v) { p.catchUpMillis = v } else { m.problem("catch_up", "catch_up must be between 0s and 30d") }
        }
        m.finish("partition")
        return p
    }

    /// `url: mqtt://host:port`, or `urls:` the nodes of one broker cluster (all plain or all TLS).
    private static func readBrokers(_ m: YAMLMapping, into c: inout CollectorConfig.MQTTConfig) {
        let single = m.node("url") != nil
        let many = m.node("urls") != nil
        if single && many { m.problem("urls", "give either url (one broker) or urls (the nodes of one cluster), not both") }
        var texts: [(String, Node?)] = []   // (url, its list entry)
        if let u = m.string("url") { texts.append((u, nil)) }
        if let list = m.sequence("urls") {
            if list.isEmpty { m.problem("urls", "urls needs at least one broker") }
            for n in list {
                if let u = n.string { texts.append((u, n)) } else { m.problem(at: n, "every entry of urls must be a text value") }
            }
        }
        var brokers: [CollectorConfig.BrokerURL] = []
        for (u, node) in texts {
            let report = { (message: String) in if let node { m.problem(at: node, message) } else { m.problem("url", message) } }
            guard let url = CollectorConfig.BrokerURL(parsing: u) else {
                report("url '\(u)' is not mqtt://host[:port] or mqtts://host[:port]")
                continue
            }
            if brokers.contains(url) { report("broker \(url) is listed twice") }
            else { brokers.append(url) }
        }
        if Set(brokers.map(\.tls)).count > 1 { m.problem("urls", "the brokers of one cluster must all be mqtt:// or all mqtts://") }
        if !brokers.isEmpty { c.brokers = brokers }
    }

    private static func readMQTT(_ m: YAMLMapping, into c: inout CollectorConfig.MQTTConfig) {
        readBrokers(m, into: &c)
        if let id = m.string("client_id") {
            if id.isEmpty || id.utf8.count > 65_535 || id.contains(where: { "/+#".contains($0) }) {
                m.problem("client_id", "client_id must be non-empty and contain no '/', '+' or '#'")
            } else { c.clientID = id }
        }
        if let v = m.bool("clean_session") { c.cleanSession = v }
        if let v = m.int("qos", in: 0...2) { c.qos = Int32(v) }
        if let p = m.string("protocol") {
            if let v = CollectorConfig.MQTTProtocol(rawValue: p) { c.protocolVersion = v }
            else { m.problem("protocol", "protocol must be \"5\" or \"3.1.1\"") }
        }
        c.username = m.string("username")
        for (key, path) in [("password_file", \CollectorConfig.MQTTConfig.passwordFile),
                            ("ca_file", \.caFile), ("cert_file", \.certFile), ("key_file", \.keyFile)] {
            if let f = m.string(key) {
                var st = stat()
                if !FileManager.default.isReadableFile(atPath: f) { m.problem(key, "\(key) '\(f)' cannot be read") }
                else if key == "password_file" || key == "key_file", stat(f, &st) == 0, st.st_mode & S_IROTH != 0 {
                    // Secrets: `check` refuses what `run` would (both exit 2).
                    m.problem(key, "\(key) '\(f)' is world-readable; chmod o-r it first (it holds a secret)")
                } else { c[keyPath: path] = f }
            }
        }
        if c.passwordFile != nil && c.username == nil { m.problem("password_file", "password_file needs a username") }
        if (c.certFile == nil) != (c.keyFile == nil) { m.problem(c.certFile == nil ? "key_file" : "cert_file", "cert_file and key_file go together") }
        if let v = m.bool("tls_insecure") { c.tlsInsecure = v }
        if let v = m.duration("keepalive") {
            if (5_000...3_600_000).contains(v) { c.keepalive = Int32(v / 1000) } else { m.problem("keepalive", "keepalive must be between 5s and 1h") }
        }
        if let v = m.duration("session_expiry") {
            if v / 1000 <= Int64(UInt32.max) { c.sessionExpirySeconds = UInt32(v / 1000) } else { m.problem("session_expiry", "session_expiry is too long") }
        }
        if let v = m.int("receive_maximum", in: 1...65_535) { c.receiveMaximum = Int32(v) }
        if let v = m.int("max_batch_messages", in: 1...1_000_000) { c.maxBatchMessages = v }
        if let subs = m.sequence("subscriptions") {
            c.subscriptions = []
            for node in subs {
                let s = m.child(node, what: "a subscription")
                guard let topic = s.string("topic"), !topic.isEmpty else {
                    s.problem("topic", "a subscription needs a topic")
                    s.finish("a subscription")
                    continue
                }
                var sub = CollectorConfig.Subscription(topic: topic, format: .auto, qos: nil)
                if let f = s.string("format") {
                    if let pf = PayloadFormat(rawValue: f) { sub.format = pf }
                    else { s.problem("format", "format must be \(PayloadFormat.allCases.map(\.rawValue).joined(separator: ", "))") }
                }
                if let p = s.string("precision") {
                    if let tp = TimePrecision(rawValue: p) { sub.precision = tp }
                    else { s.problem("precision", "precision must be ns, us, ms or s") }
                }
                if let q = s.int("qos", in: 0...2) { sub.qos = Int32(q) }
                do {
                    let pattern = try TopicPattern(String(topic.dropFirst(sub.sharePrefix.count)))
                    if !validFilter(pattern.filter) { s.problem("topic", "'\(topic)' is not a valid MQTT topic filter") }
                } catch {
                    s.problem("topic", "'\(topic)': \(error.message)")
                }
                s.finish("a subscription")
                c.subscriptions.append(sub)
            }
            if c.subscriptions.isEmpty { m.problem("subscriptions", "at least one subscription is needed") }
        }
        m.finish("mqtt")
    }

    private static func readHTTP(_ m: YAMLMapping, into c: inout CollectorConfig.HTTPConfig) {
        if let l = m.string("listen") {
            if let colon = l.lastIndex(of: ":"), let p = Int(l[l.index(after: colon)...]), (0...65535).contains(p), colon > l.startIndex {
                var host = String(l[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                c.host = host
                c.port = p
            } else { m.problem("listen", "listen must be host:port, e.g. 127.0.0.1:8080") }
        }
        if let f = m.string("tokens_file") {
            if FileManager.default.isReadableFile(atPath: f) { c.tokensFile = f }
            else { m.problem("tokens_file", "tokens_file '\(f)' cannot be read") }
        }
        if let v = m.bool("open_metrics") { c.openMetrics = v }
        if let v = m.int("max_connections", in: 1...1_000_000) { c.maxConnections = v }
        if let v = m.duration("idle_timeout") {
            if v >= 100 { c.idleTimeoutMillis = v } else { m.problem("idle_timeout", "idle_timeout must be at least 100ms") }
        }
        m.finish("http")
    }

    /// `512KB`, `64MB`, `20GB` (powers of 1024).
    static func bytes(_ s: String) -> Int64? {
        let units: [(String, Int64)] = [("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40)]
        for (u, f) in units where s.hasSuffix(u) {
            guard let n = Int64(s.dropLast(2)), n > 0, n < (Int64.max / f) else { return nil }
            return n * f
        }
        return nil
    }

    private static func readStorage(_ m: YAMLMapping, into c: inout CollectorConfig.StorageConfig) {
        if let p = m.string("path") {
            if p.isEmpty { m.problem("path", "path must not be empty") } else { c.path = p }
        }
        let raw = m.duration("raw_retention")
        if let v = m.duration("accept_age") {
            if v >= 60_000 { c.acceptAgeMillis = v } else { m.problem("accept_age", "accept_age must be at least 1m") }
        }
        // Raw readings are the dedupe index: kept at least as long as a reading is accepted.
        if let raw {
            if raw >= c.acceptAgeMillis { c.rawRetentionMillis = raw } else {
                m.problem("raw_retention", "raw_retention (\(DurationText.format(raw))) must be at least accept_age "
                          + "(\(DurationText.format(c.acceptAgeMillis))): raw readings are the dedupe index of every accepted time")
            }
        } else {
            c.rawRetentionMillis = max(c.rawRetentionMillis, c.acceptAgeMillis)
        }
        // Each tier at least accept_age: a late reading must find its buckets.
        let defaultMinute = max(730 * 86_400_000, c.acceptAgeMillis)
        c.rollupRetentionMillis[.minute] = defaultMinute
        if let r = m.mapping("rollup_retention") {
            for tier in Tier.allCases {
                guard let text = r.string(tier.description) else { continue }
                if text == "forever" { c.rollupRetentionMillis[tier] = Int64?.none; continue }
                guard let v = DurationText.millis(text) else {
                    r.problem(tier.description, "rollup_retention \(tier): bad duration '\(text)' (use e.g. 90d, 2w, or forever)")
                    continue
                }
                if v >= c.acceptAgeMillis { c.rollupRetentionMillis[tier] = v } else {
                    r.problem(tier.description, "rollup_retention \(tier) (\(DurationText.format(v))) must be at least accept_age "
                              + "(\(DurationText.format(c.acceptAgeMillis))): a reading that late still updates its buckets")
                }
            }
            r.finish("storage.rollup_retention")
        }
        if let d = m.string("durability") {
            if let v = TelemetryDatabase.Durability(rawValue: d) { c.durability = v }
            else { m.problem("durability", "durability must be normal or full") }
        }
        if let v = m.int("ring_capacity", in: 1...1_048_576) { c.ringCapacity = v }
        if let v = m.int("quarantine_limit", in: 1...10_000_000) { c.quarantineLimit = v }
        if let text = m.string("alert_retention") {
            if text == "forever" { c.alertRetentionMillis = nil }
            else if let v = DurationText.millis(text), v >= 86_400_000 { c.alertRetentionMillis = v }
            else { m.problem("alert_retention", "alert_retention must be a duration of at least 1d (e.g. 730d) or forever") }
        }
        if let t = m.string("max_size") {
            if let b = Self.bytes(t), b >= 65_536 { c.maxSizeBytes = b } else { m.problem("max_size", "max_size must be a size of at least 64KB, e.g. 512MB or 20GB") }
        }
        if let u = m.string("postgres") {
            if u.isEmpty || !(u.hasPrefix("postgresql://") || u.hasPrefix("postgres://") || u.contains("=")) {
                m.problem("postgres", "postgres must be a libpq connection URL (postgresql://user@host:port/database?...) or key=value string")
            } else {
                c.postgres = u
            }
        }
        m.finish("storage")
    }

    /// MQTT filter rules: `#` only last and alone in its level, `+` alone in its level.
    static func validFilter(_ t: String) -> Bool {
        let levels = t.split(separator: "/", omittingEmptySubsequences: false)
        for (i, l) in levels.enumerated() {
            if l.contains("#") && (l != "#" || i != levels.count - 1) { return false }
            if l.contains("+") && l != "+" { return false }
        }
        return !t.isEmpty && t.utf8.count <= 65_535
    }

    /// A YAML syntax error at its line. `quoting: false` for files holding secrets: the
    /// parser's reason only, never its description (which quotes the line).
    static func yamlProblem(_ e: YamlError, file: String, quoting: Bool = true) -> ConfigProblem {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigProblem(file: file, line: mark.line, message: "YAML: \(problem)")
        default:
            return ConfigProblem(file: file, line: 1, message: quoting ? "YAML: \(e)" : "YAML syntax error")
        }
    }
}

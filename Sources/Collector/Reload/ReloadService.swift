import Alerts
import Logging
import ServiceLifecycle
import Telemetry
import UnixSignals

/// SIGHUP: reads the catalogue and rules again (`sensors:`), and from the config file
/// `storage.max_size` and the tokens file (`http.tokens_file`: a removed token stops working
/// at once). If every file is valid they replace the old ones between two ingest batches, so
/// no reading is dropped; live alerts of rules that still exist carry on. If any file has a
/// problem (an empty config file is one), what is in force stays and each problem is logged
/// as `file:line: message`. Other config changes need a restart: the log names them.
struct ReloadService: Service {
    /// The configuration the daemon started with.
    let config: CollectorConfig
    let configPath: String?
    let live: LiveCatalogue
    /// The tokens in force; nil when the daemon started without a tokens file.
    let access: LiveAccess?
    let loop: IngestLoop
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            // On a Dispatch thread: `storage.max_size` takes a barrier write, which waits for
            // every reader, and a reader's async read finishes on a task thread (one blocked
            // here would be one fewer for it).
            for await _ in hangups { _ = try? await blocking { [self] in reload() } }
        }
    }

    func reload() {
        do {
            let fresh = try configPath.map { path throws(ConfigProblems) in try ConfigLoader.load(path: path, refusingEmpty: true) }
            let catalogue = try ConfigLoader.catalogue(for: config)
            let rules = try RuleLoader.load(path: config.sensors, catalogue: catalogue)
            let tokens = try Self.tokens(fresh: fresh, running: config, inForce: access != nil)
            if let fresh {
                do {
                    try loop.setMaxSize(fresh.storage.maxSizeBytes ?? (1 << 60))   // no cap: SQLite's own maximum
                } catch {
                    logger.warning("cannot apply storage.max_size", metadata: ["error": "\(error)"])
                }
            }
            if let tokens { access?.replace(tokens) }
            live.replace(catalogue, rules: rules)
            loop.reload(catalogue: catalogue, rules: rules)
            logger.notice("reloaded the catalogue and rules", metadata: [
                "sensors": "\(catalogue.sensors.count)", "zones": "\(catalogue.zones.count)", "rules": "\(rules.count)",
                "max_size": "\(fresh.map { $0.storage.maxSizeBytes.map { "\($0) bytes" } ?? "none" } ?? "not read (no config file)")",
                "tokens": "\(tokens.map { "\($0.tokens.count)" } ?? "none (no tokens file at start)")",
            ])
            if let fresh {
                let pending = Self.restartNeeded(running: config, file: fresh, tokensInForce: access != nil)
                if !pending.isEmpty {
                    logger.warning("configuration changes that need a restart to take effect",
                                   metadata: ["keys": "\(pending.joined(separator: ", "))"])
                }
            }
        } catch {
            logger.error("reload refused; keeping the catalogue, rules, tokens and max_size in force",
                         metadata: ["problems": "\(error.description)"])
        }
    }

    /// The tokens a reload puts in force: the tokens file the fresh config names (else the
    /// running one's), read again; nil when none were in force at start.
    static func tokens(fresh: CollectorConfig?, running: CollectorConfig, inForce: Bool) throws(ConfigProblems) -> AccessControl? {
        guard inForce, let path = fresh.map(\.http.tokensFile) ?? running.http.tokensFile else { return nil }
        return try AccessControl.load(path: path, openMetrics: fresh?.http.openMetrics ?? running.http.openMetrics)
    }

    /// The top-level keys whose value in the file differs from the running one and that a
    /// reload does not apply (everything but the catalogue, rules, `storage.max_size` and the
    /// tokens file's content and path).
    static func restartNeeded(running: CollectorConfig, file: CollectorConfig, tokensInForce: Bool) -> [String] {
        var out: [String] = []
        func differ<T>(_ key: String, _ a: T, _ b: T) { if fingerprint(a) != fingerprint(b) { out.append(key) } }
        differ("mqtt", running.mqtt, file.mqtt)
        var (h1, h2) = (running.http, file.http)
        if tokensInForce && h2.tokensFile != nil { (h1.tokensFile, h1.openMetrics) = (h2.tokensFile, h2.openMetrics) }
        differ("http", h1, h2)
        var (s1, s2) = (running.storage, file.storage)
        s1.maxSizeBytes = s2.maxSizeBytes
        differ("storage", s1, s2)
        differ("timezone", running.timezone, file.timezone)
        differ("sensors", running.sensors, file.sensors)
        differ("unregistered_sensors", running.unregisteredSensors, file.unregisteredSensors)
        differ("limits", running.limits, file.limits)
        differ("coverage", running.coverage, file.coverage)
        differ("derived", running.derived, file.derived)
        differ("notify", running.notify, file.notify)
        differ("log_level", running.logLevel, file.logLevel)
        differ("language", running.language, file.language)
        return out
    }

    /// A value's content as text, dictionaries and sets in sorted order (their own
    /// descriptions follow hash order, which may differ for equal contents).
    static func fingerprint(_ value: Any) -> String {
        let m = Mirror(reflecting: value)
        switch m.displayStyle {
        case .dictionary, .set:
            return "[" + m.children.map { fingerprint($0.value) }.sorted().joined(separator: ",") + "]"
        case .struct, .class, .tuple, .collection, .optional, .enum:
            guard !m.children.isEmpty else { return String(describing: value) }
            return "\(m.subjectType)(" + m.children.map { "\($0.label ?? ""):\(fingerprint($0.value))" }.joined(separator: ",") + ")"
        default:
            return String(describing: value)
        }
    }
}

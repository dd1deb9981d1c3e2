import Alerts
import Logging
import ServiceLifecycle
import Telemetry
import UnixSignals

/// SIGHUP: reads the catalogue and rules again (`sensors:`), and from the config file
/// `storage.max_size`. If every file is valid they replace the old ones between two ingest
/// batches, so no reading is dropped; live alerts of rules that still exist carry on. If any
/// file has a problem, what is in force stays and each problem is logged as `file:line:
/// message`. Other config changes need a restart.
struct ReloadService: Service {
    let config: CollectorConfig
    let configPath: String?
    let live: LiveCatalogue
    let loop: IngestLoop
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups { reload() }
        }
    }

    func reload() {
        do {
            let fresh = try configPath.map { path throws(ConfigProblems) in try ConfigLoader.load(path: path) }
            let catalogue = try ConfigLoader.catalogue(for: config)
            let rules = try RuleLoader.load(path: config.sensors, catalogue: catalogue)
            if let fresh {
                do {
                    try loop.setMaxSize(fresh.storage.maxSizeBytes ?? (1 << 60))   // no cap: SQLite's own maximum
                } catch {
                    logger.warning("cannot apply storage.max_size", metadata: ["error": "\(error)"])
                }
            }
            live.replace(catalogue, rules: rules)
            loop.reload(catalogue: catalogue, rules: rules)
            logger.notice("reloaded the catalogue and rules", metadata: [
                "sensors": "\(catalogue.sensors.count)", "zones": "\(catalogue.zones.count)", "rules": "\(rules.count)",
                "max_size": "\(fresh.map { $0.storage.maxSizeBytes.map { "\($0) bytes" } ?? "none" } ?? "not read (no config file)")",
            ])
        } catch {
            logger.error("reload refused; keeping the catalogue and rules in force", metadata: ["problems": "\(error.description)"])
        }
    }
}

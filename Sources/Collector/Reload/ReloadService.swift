import Alerts
import Logging
import ServiceLifecycle
import Telemetry
import UnixSignals

/// SIGHUP: reads the catalogue and rules again (`sensors:`). If every file is valid they
/// replace the old ones between two ingest batches, so no reading is dropped; live alerts of
/// rules that still exist carry on. If any file has a problem, the old catalogue and rules
/// stay in force and each problem is logged as `file:line: message`.
struct ReloadService: Service {
    let config: CollectorConfig
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
            let catalogue = try ConfigLoader.catalogue(for: config)
            let rules = try RuleLoader.load(path: config.sensors, catalogue: catalogue)
            live.replace(catalogue, rules: rules)
            loop.reload(catalogue: catalogue, rules: rules)
            logger.notice("reloaded the catalogue and rules", metadata: [
                "sensors": "\(catalogue.sensors.count)", "zones": "\(catalogue.zones.count)", "rules": "\(rules.count)",
            ])
        } catch {
            logger.error("reload refused; keeping the catalogue and rules in force", metadata: ["problems": "\(error.description)"])
        }
    }
}

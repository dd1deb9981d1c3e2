import Alerts
import ArgumentParser
import Foundation
import Logging
import Telemetry

/// `collector run [--config FILE]`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the collector daemon (SIGTERM or SIGINT stops it cleanly).")

    @Option(name: .long, help: "Configuration file (YAML). Without it: built-in defaults.")
    var config: String?

    @Option(name: .long, help: "Write the HTTP port the daemon listens on to this file once it listens (for `listen: host:0`).")
    var portFile: String?

    func run() async throws {
        let cfg: CollectorConfig
        let catalogue: Catalogue
        let rules: [Rule]
        let access: AccessControl?
        do {
            cfg = try ConfigLoader.load(path: config)
            catalogue = try ConfigLoader.catalogue(for: cfg)
            rules = try RuleLoader.load(path: cfg.sensors, catalogue: catalogue)
            if let f = cfg.http.tokensFile {
                access = try AccessControl.load(path: f, openMetrics: cfg.http.openMetrics)
            } else {
                access = nil
            }
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        HTTPStack.bootstrapLogging(cfg.logLevel)
        do {
            try await Daemon(config: cfg, catalogue: catalogue, rules: rules, access: access, configPath: config,
                         portFile: portFile, logger: Logger(label: "collector")).run()
        } catch let e as StartupError {
            FileHandle.standardError.write(Data("collector: \(e.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

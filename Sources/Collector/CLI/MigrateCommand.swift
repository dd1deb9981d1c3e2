import Alerts
import ArgumentParser
import Foundation
import Telemetry

/// `collector migrate`: brings a store to the current layout without starting the daemon
/// (the daemon, `import` and `verify` do the same when they open it). A store of one SQLite
/// row per reading has its readings moved into compressed sample blocks, a few series per
/// transaction: stopped or killed, it goes on where it was at the next `migrate` or start.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Convert a store to the current layout (raw readings into sample blocks); resumable.",
        discussion: "Exit codes: 0 done (or nothing to do); 1 a runtime error; 2 a configuration error.")

    @Option(help: "Configuration file: the storage path.") var config: String?
    @Option(help: "The SQLite file (default: the config's storage.path).") var db: String?

    func run() throws {
        let cfg: CollectorConfig
        do { cfg = try ConfigLoader.load(path: config) } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        let path = db ?? cfg.storage.path
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("collector migrate: no store at \(path)\n".utf8))
            throw ExitCode(1)
        }
        do {
            let lock = try StoreLock(databasePath: path)
            defer { withExtendedLifetime(lock) {} }
            let started = Date()
            var moved = 0
            let pool = try TelemetryDatabase.open(path: path, durability: cfg.storage.durability,
                                                  extraMigrations: AlertStore.registerMigrations) { n in
                moved = n
                print("migrate: \(n) readings moved into sample blocks")
            }
            let (blocks, readings) = try pool.read { db in
                (try BlockStore.blockCount(db), try BlockStore.totalCount(db))
            }
            try pool.close()
            let took = String(format: "%.1f", Date().timeIntervalSince(started))
            print("migrate: \(path) is current: \(readings) raw readings in \(blocks) sample blocks"
                  + (moved > 0 ? " (\(moved) moved in \(took) s)" : ""))
        } catch {
            FileHandle.standardError.write(Data("collector migrate: \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

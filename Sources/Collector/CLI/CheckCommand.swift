import ArgumentParser
import Foundation

/// `collector check [--config FILE]`: validates the configuration; prints `file:line: message`
/// per problem and exits 2 when there is any.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate the configuration; print file:line: message for each problem.")

    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    func run() throws {
        do {
            let c = try ConfigLoader.load(path: config)
            print("\(config ?? "built-in defaults"): ok (broker \(c.mqtt.url), \(c.mqtt.subscriptions.count) subscription(s), storage \(c.storage.path))")
        } catch {
            print(error.description)
            throw ExitCode(2)
        }
    }
}

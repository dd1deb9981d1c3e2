import ArgumentParser
import Foundation

/// `collector check [--config FILE]`: validates the configuration; prints `file:line: message`
/// per problem and exits 2 when there is any.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate the configuration, the sensor catalogue and the alert rules; print file:line: message for each problem.")

    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    func run() throws {
        let c: CollectorConfig
        do {
            c = try ConfigLoader.load(path: config)
        } catch {
            print(error.description)
            throw ExitCode(2)
        }
        print("\(config ?? "built-in defaults"): ok (broker \(c.mqtt.url), \(c.mqtt.subscriptions.count) subscription(s), storage \(c.storage.path))")
        do {
            let cat = try ConfigLoader.catalogue(for: c)
            let rules = try RuleLoader.load(path: c.sensors, catalogue: cat)
            if let f = c.http.tokensFile {
                let a = try AccessControl.load(path: f, openMetrics: c.http.openMetrics)
                print("\(f): ok (\(a.tokens.count) token(s))")
            }
            print("\(c.sensors): ok (\(cat.zones.count) zone(s), \(cat.sensors.count) sensor(s), \(rules.count) rule(s))")
        } catch {
            print(error.description)
            throw ExitCode(2)
        }
    }
}

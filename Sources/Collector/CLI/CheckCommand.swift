import Alerts
import ArgumentParser
import Foundation
import Telemetry

/// `collector check [--config FILE]`: validates the configuration; prints `file:line: message`
/// per problem and exits 2 when there is any.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate the configuration, the sensor catalogue and the alert rules; print file:line: message for each problem.")

    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    /// What the flood-risk level of the catalogue's rain stations rests on that the operator
    /// should know: a station with no susceptibility (its zone's or its own) gets the default;
    /// a region whose built-in table lacks levels 2 and 3 (and no table is configured).
    static func floodRiskWarnings(_ cat: Catalogue, _ d: DerivedConfig) -> [String] {
        var out: [String] = []
        var regions: Set<Int> = []
        for s in cat.sensors where s.metrics["rain_mm"] != nil {
            let area = d.floodArea(of: s, in: cat)
            if area.susceptibility == nil {
                out.append("sensor '\(s.id)' has rain_mm but neither its zone nor itself has a susceptibility: "
                           + "its flood-risk level assumes \(FloodRiskTable.defaultSusceptibility.rawValue)")
            }
            if d.configuredFloodRisk(for: s) == nil { regions.insert(area.region) }
        }
        for r in regions.sorted() where !FloodRiskTable.article46(region: r).coversEveryLevel {
            out.append("region \(r): only the level-1 cases of Decision 18/2021 Article 46 are built in for it; "
                       + "configure derived.flood_risk with its level-2 and level-3 cases")
        }
        return out
    }

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
            for w in Self.floodRiskWarnings(cat, c.derived) { print("warning: \(w)") }
        } catch {
            print(error.description)
            throw ExitCode(2)
        }
    }
}

import ArgumentParser
import Foundation
import Telemetry

/// `collector simulate`: a field-gateway simulator publishing the catalogue's sensors over MQTT.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Publish realistic readings of the catalogue's sensors over MQTT (a field-gateway simulator).",
        discussion: """
            Simulated time runs at --speed x the wall clock (or as fast as --rate asks) and ends at
            about now, so timestamps stay inside the collector's accepted range. Scenarios:
            \(Scenario.Kind.allCases.map(\.rawValue).joined(separator: ", ")); each prints what the
            collector should raise. Deterministic with --seed. The last line on stdout is a
            summary for scripts: `simulate: readings=N messages=M duplicates=D held=H acked=A seconds=S`.
            """)

    @Option(help: "Configuration file: the broker URL and the catalogue (sensors:) are taken from it.")
    var config: String?
    @Option(help: "Broker, mqtt://host:port (default: the config's mqtt.url or urls); repeat it for the nodes of a cluster, tried in turn.")
    var url: [String] = []
    @Option(name: .customLong("client-id"), help: "MQTT client id.")
    var clientID = "simulator-1"
    @Option(help: "Topic prefix: messages go to <prefix>/<sensor>, packs to <prefix>/gw-<unit>.")
    var prefix = "telemetry"
    @Option(help: "Sensors to play: comma-separated terms that must all hold: kind=K, unit=U, zone=Z, a level such as district=D, or an id glob (ft-mt-*).")
    var sensors: String?
    @Option(help: "Sensors to leave out (same syntax as --sensors); may be repeated.")
    var exclude: [String] = []
    @Option(help: "Scenario: \(Scenario.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scenario: String = "normal"
    @Option(help: "The scenario's place (a unit or a group such as a former district), transformer or DMA (default per scenario).")
    var target: String?
    @Option(help: "Seed for every value, phase, shuffle and duplicate.")
    var seed: UInt64 = 1
    @Option(help: "Simulated seconds per wall second (3600: an hour of readings per second).")
    var speed: Double?
    @Option(help: "Readings per second to publish (sets the speed from the sensors' intervals).")
    var rate: Double?
    @Option(help: "Wall-clock duration, e.g. 60s, 10m (default: until simulated time reaches now, or forever at speed 1).")
    var duration: String?
    @Option(help: "Simulated start time: RFC 3339, epoch seconds, or relative (--from=-6h).")
    var from: String?
    @Option(help: "Readings per message, in packs per unit gateway (default: one message per sensor sample).")
    var batch: Int?
    @Option(help: "MQTT QoS: 0 or 1.")
    var qos: Int32 = 1
    @Option(help: "Payload format: json, senml, influx, or chirpstack (ChirpStack v4 uplinks on <prefix>/device/<devEUI>/event/up).")
    var format: String = "json"
    @Flag(help: "Print the scenario's expectations and exit.")
    var explain = false

    func run() throws {
        guard let kind = Scenario.Kind(rawValue: scenario) else {
            throw ValidationError("unknown scenario '\(scenario)' (use \(Scenario.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let fmt = Simulator.Format(rawValue: format) else { throw ValidationError("--format must be json, senml, influx or chirpstack") }
        if fmt == .chirpstack && batch != nil { throw ValidationError("--batch does not apply to chirpstack: each uplink is one message") }
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos must be 0 or 1") }
        if let b = batch, b < 1 { throw ValidationError("--batch must be at least 1") }
        let cfg: CollectorConfig
        let catalogue: Catalogue
        do {
            cfg = try ConfigLoader.load(path: config)
            catalogue = try ConfigLoader.catalogue(for: cfg)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        var selected = try SensorFilter(sensors ?? "").apply(catalogue.sensors, catalogue: catalogue)
        for e in exclude {
            let out = Set(try SensorFilter(e).apply(selected, catalogue: catalogue).map(\.id))
            selected.removeAll { out.contains($0.id) }
        }
        guard !selected.isEmpty else { throw ValidationError("no catalogue sensor matches --sensors '\(sensors ?? "")'") }

        var o = Simulator.Options()
        if url.isEmpty {
            o.urls = cfg.mqtt.brokers
        } else {
            o.urls = try url.map { u in
                guard let b = CollectorConfig.BrokerURL(parsing: u) else { throw ValidationError("--url must be mqtt://host[:port]") }
                return b
            }
        }
        guard !o.urls.contains(where: \.tls) else { throw ValidationError("the simulator speaks plain MQTT only; point --url at a plain listener") }
        o.clientID = clientID
        o.prefix = prefix
        o.qos = qos
        o.format = fmt
        o.batch = batch
        o.seed = seed
        let perSecond = Simulator.readingsPerSecond(selected)
        if let rate {
            guard rate > 0 else { throw ValidationError("--rate must be positive") }
            o.speed = rate / perSecond
        } else {
            o.speed = speed ?? 1
        }
        guard o.speed > 0 else { throw ValidationError("--speed must be positive") }
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        let wall = try duration.map { d -> Int64 in
            guard let ms = DurationText.millis(d), ms > 0 else { throw ValidationError("--duration: bad duration '\(d)' (use e.g. 30s, 10m, 1h)") }
            return ms
        }
        // Simulated window. In real time (speed 1) it starts now and runs for --duration (or
        // until stopped). Accelerated, it ends at about now, so no timestamp is in the future.
        let span = wall.map { EpochMillis(Double($0) * o.speed) }
        var start: EpochMillis
        if let from {
            guard let t = Self.time(from, now: now) else { throw ValidationError("--from: use RFC 3339, epoch seconds or -7d / -6h") }
            start = t
        } else if o.speed > 1 {
            start = now - (span ?? 86_400_000)
        } else {
            start = now
        }
        let earliest = now - 29 * 86_400_000
        if start < earliest {
            FileHandle.standardError.write(Data("simulate: start moved to 29 days ago (the collector quarantines readings older than its accept_age)\n".utf8))
            start = earliest
        }
        let end: EpochMillis = o.speed > 1 ? min(now, start + (span ?? (now - start))) : span.map { start + $0 } ?? .max
        o.start = start
        o.end = end
        var sc = Scenario(kind: kind, start: start, end: end == .max ? start + 86_400_000 : end, target: target, catalogue: catalogue)
        sc.region = cfg.derived.provinceRegion

        print("simulate: \(selected.count) sensors, \(String(format: "%.1f", perSecond)) readings per simulated second, speed \(String(format: "%g", o.speed))")
        print("simulate: from \(Simulator.iso(start)) to \(end == .max ? "(until stopped)" : Simulator.iso(end)), scenario \(kind.rawValue)\(sc.target.isEmpty ? "" : " (\(sc.target))")")
        for e in sc.expectations { print("expect: \(e)") }
        if explain { return }

        signal(SIGINT) { _ in simulatorStop.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in simulatorStop.store(true, ordering: .relaxed) }
        let summary: Simulator.Summary
        do {
            summary = try Simulator(options: o, sensors: selected, catalogue: catalogue, scenario: sc).run()
        } catch let e as StartupError {
            FileHandle.standardError.write(Data("simulate: \(e.description)\n".utf8))
            throw ExitCode(1)
        }
        let rate = Double(summary.readings + summary.duplicates) / max(summary.seconds, 0.001)
        print("simulate: readings=\(summary.readings) messages=\(summary.messages) duplicates=\(summary.duplicates) held=\(summary.heldBack) acked=\(summary.acknowledged) seconds=\(String(format: "%.3f", summary.seconds)) rate=\(Int(rate))")
        if qos == 1 && summary.acknowledged < summary.messages { throw ExitCode(1) }
    }

    /// RFC 3339, epoch seconds, or relative to now (-7d, -6h, -30m).
    static func time(_ s: String, now: EpochMillis) -> EpochMillis? {
        if s.hasPrefix("-"), let ms = DurationText.millis(String(s.dropFirst())) { return now - ms }
        if let secs = Double(s) { return EpochMillis(secs * 1000) }
        return (try? Date(s, strategy: .iso8601)).map { EpochMillis($0.timeIntervalSince1970 * 1000) }
    }
}

/// `--sensors`: comma-separated terms that must all hold.
struct SensorFilter {
    private var terms: [(key: String, value: String)] = []

    init(_ text: String) throws {
        for raw in text.split(separator: ",") {
            let t = raw.trimmingCharacters(in: .whitespaces)
            if let eq = t.firstIndex(of: "=") {
                let k = String(t[..<eq]), v = String(t[t.index(after: eq)...])
                guard k == "kind" || k == "zone" || k == "unit" || !k.isEmpty && k.allSatisfy({ $0.isLetter || $0 == "_" }) else {
                    throw ValidationError("--sensors: bad key '\(k)' (kind, unit, zone, a level such as district, or an id glob)")
                }
                terms.append((k, v))
            } else {
                terms.append(("id", t))
            }
        }
    }

    /// The catalogue's sensors the terms select; a place term (`unit=`, `district=`, another
    /// level) holds for the sensors whose unit is in that place.
    func apply(_ sensors: [SensorEntry], catalogue: Catalogue) throws -> [SensorEntry] {
        var levels: [String: String] = [:]
        for t in terms where !["kind", "zone", "id"].contains(t.key) {
            guard let level = catalogue.level(named: t.key) else {
                throw ValidationError("--sensors: unknown key '\(t.key)' (kind, unit, zone\(catalogue.levels.map { ", " + $0.id }.joined()), or an id glob)")
            }
            levels[t.key] = level
        }
        return sensors.filter { s in
            terms.allSatisfy { t in
                switch t.key {
                case "kind": s.kind.rawValue == t.value
                case "zone": s.zone == t.value
                case "id": fnmatch(t.value, s.id, 0) == 0
                default: catalogue.place(s.unit, at: levels[t.key]!) == t.value
                }
            }
        }
    }
}

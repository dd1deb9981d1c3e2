import Alerts
import Foundation
import GRDB
import Logging
import Telemetry

/// `collector verify`'s check of the derived series: every stored input from the horizon on
/// replayed through a fresh `DerivedSeries` (`DerivedReplay`), compared with what is stored
/// (`DerivedVerifier`).
struct DerivedCheck {
    /// What is stored before the horizon (the replay's state is rebuilt from it).
    let history: any SampleHistory
    let reader: any TelemetryQueries
    let catalogue: Catalogue
    let config: DerivedConfig
    let timeZone: TimeZoneID
    /// The province-wide scopes (zone, unit, junction maxima, DMAs, transformers) are not this
    /// store's to check: a partition's file over a shared store, where the province's holder
    /// computes them from every partition's members and meters.
    var skipsProvinceWide = false
    /// The province-wide scopes were computed apart from their members (a shared store with
    /// partitions): they may lag the replay by `DerivedVerifier.provinceLag`.
    var provinceApart = false

    func run(from horizon: EpochMillis, maxReported: Int) async throws -> DerivedVerifier.Report {
        let all = try await reader.seriesList()
        var inputs: [(name: SeriesName, samples: [Sample])] = []
        for info in all where DerivedSeries.inputMetrics.contains(info.name.metric) {
            let (points, _) = try await reader.raw(info.id, from: horizon, to: .max, limit: Int.max - 1)
            inputs.append((info.name, points))
        }
        let replay = DerivedReplay(catalogue: catalogue, config: config, timeZone: timeZone,
                                   logger: Logger(label: "collector.verify"))
        let recomputed = replay.recompute(inputs, from: horizon, stored: history)

        var verifier = DerivedVerifier(maxReported: maxReported)
        let ids = Dictionary(all.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        // Stations of the catalogue, their transformers, DMAs, zones, units and junctions: a series
        // left by a sensor no longer catalogued (or stored before only catalogued sensors
        // derived) is not compared.
        let names = Set(recomputed.keys).union(all.map(\.name)).filter {
            DerivedVerifier.comparison(of: $0) != nil && (catalogue.sensor($0.sensor) != nil || Self.isScopeOf(catalogue, $0.sensor))
                && !(skipsProvinceWide && DerivedScope.isProvinceWide($0.sensor))
        }
        // A level in force at the horizon was stored up to a heartbeat before it.
        let storedFrom = horizon > .min + 3_600_000 ? horizon - 3_600_000 : .min
        for name in names.sorted(by: { $0.description < $1.description }) {
            var stored: [Sample] = []
            if let id = ids[name] { stored = try await reader.raw(id, from: storedFrom, to: .max, limit: Int.max - 1).points }
            // The replay's warm-up (state rebuilt from before the horizon) may report days and
            // nights before it again: they are not compared.
            verifier.compare(name, recomputed: (recomputed[name] ?? []).filter { $0.time >= horizon }, stored: stored, from: horizon,
                             settle: provinceApart && DerivedScope.isProvinceWide(name.sensor) ? DerivedVerifier.provinceLag : DerivedVerifier.settle)
        }
        return verifier.report
    }
}

extension DerivedCheck {
    /// Whether `sensor` names a transformer, DMA, zone, unit or junction of the catalogue.
    static func isScopeOf(_ catalogue: Catalogue, _ sensor: String) -> Bool {
        guard let dot = sensor.firstIndex(of: "."), DerivedScope.isDerived(sensor) else { return false }
        let id = String(sensor[sensor.index(after: dot)...])
        switch sensor[..<dot] {
        case "transformer", "dma", "junction": return catalogue.sensors.contains { $0.zone == id }
        case "zone": return catalogue.sensors.contains { $0.zone == id }
        case "unit": return catalogue.sensors.contains { $0.unit == id }
        default: return false
        }
    }
}

/// The store as `SampleHistory` for a replay (which asks it only about the past).
/// The SQLite file as the replay's history.
final class StoredHistory: SampleHistory {
    let samples: RecentSamples
    init(samples: RecentSamples) { self.samples = samples }
    func recent(_ id: SeriesID) -> [Sample] { [] }
    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try samples.stored(name, from: from, to: to)?.samples ?? []
    }
    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try history(name, from: from, to: to)
    }
    func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? { try samples.lastStored(name, before: before) }
}

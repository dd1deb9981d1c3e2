import Alerts
import Benchmark
import Foundation
import Telemetry

/// Rule evaluation per committed reading with 1,000 rules loaded, against the same readings
/// with no rules (the reference in the same run); the whole hot path with and without the
/// rules; and the derived-series trackers.
///
/// The 1,000 rules: 100 metrics x 10 rules. Of each metric's 10, 8 name one sensor and 2 match
/// by kind, so a reading is checked against its metric's 10 rules and 2-3 of them match.
/// Thresholds are never crossed: the steady state of a quiet province.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    let sensors = (0..<100).map { SensorEntry(id: "ft-\($0)", kind: $0 % 2 == 0 ? .forest : .hydro, unit: "d\($0 % 8)", intervalMillis: 600_000) }
    let catalogue = Catalogue(sensors: sensors)
    let metrics = (0..<100).map { "m\($0)" }
    var rules: [Rule] = []
    for (mi, m) in metrics.enumerated() {
        for k in 0..<8 {
            rules.append(Rule(name: "r-\(m)-s\(k)", severity: .warning,
                              match: RuleMatch(metric: m, sensor: "ft-\((mi + k * 13) % 100)"), when: .above(1e9)))
        }
        rules.append(Rule(name: "r-\(m)-forest", severity: .warning, match: RuleMatch(kind: .forest, metric: m), when: .above(1e9),
                          clear: .below(1e8)))
        rules.append(Rule(name: "r-\(m)-hydro", severity: .critical, match: RuleMatch(kind: .hydro, metric: m), when: .atLeast(1e9)))
    }
    precondition(rules.count == 1000)
    // 1,000 series: every sensor with 10 of the metrics.
    let series = (0..<1000).map { i in try! SeriesName(sensor: "ft-\(i % 100)", metric: metrics[(i / 100) * 10 + i % 10]) }
    let entries = series.map { catalogue.sensor($0.sensor) }

    /// Every series seen once, so the engine's tables have grown to the series before the
    /// measurement: what is measured is the steady state.
    func warm(_ engine: AlertEngine, at t: EpochMillis) {
        for s in series.indices {
            _ = engine.observe(series: series[s], sample: Sample(time: t, value: 0), now: t, entry: .some(entries[s])) { [] }
        }
    }

    func run(_ engine: AlertEngine, _ benchmark: Benchmark) {
        var t: EpochMillis = 1_795_000_000_000
        var fired = 0
        warm(engine, at: t)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            let s = i % 1000
            if s == 0 { t += 10_000 }
            let events = engine.observe(series: series[s], sample: Sample(time: t, value: Double(i & 1023)), now: t,
                                        entry: .some(entries[s])) { [] }
            fired &+= events.count
        }
        benchmark.stopMeasurement()
        precondition(fired == 0)
        blackHole(fired)
    }

    Benchmark("AlertEngine.observe, no rules (reference)") { benchmark in
        run(AlertEngine(rules: [], catalogue: catalogue, now: 0), benchmark)
    }

    Benchmark("AlertEngine.observe, 1000 rules") { benchmark in
        run(AlertEngine(rules: rules, catalogue: catalogue, now: 0), benchmark)
    }

    // The hot path per accepted reading as the collector runs it: the series' ring (the alert
    // worker's `RecentSamples`) and its four tiers (the ingest thread's `Downsampler`), then
    // the same with the 1,000 rules evaluated. Allocations: a committed threshold of 0
    // (Benchmarks/Thresholds, checked by `make bench`).
    func hotPath(_ engine: AlertEngine?, _ benchmark: Benchmark) {
        var tiers = Downsampler(days: LocalDays(timeZone: TimeZone(identifier: "Asia/Ho_Chi_Minh")!))
        tiers.reserve(seriesCount: series.count)
        var rings = SeriesRings(capacity: 128)
        rings.reserve(seriesCount: series.count)
        var t: EpochMillis = 1_795_000_000_000
        // Warm: every series has an open bucket per tier.
        for s in series.indices {
            rings.record(Sample(time: t, value: 0), of: SeriesID(Int32(s)))
            tiers.add(series: SeriesID(Int32(s)), time: t, value: 0)
        }
        if let engine { warm(engine, at: t) }
        var fired = 0
        var drained = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            let s = i % series.count
            if s == 0 { t += 10_000 }
            // The deltas go to the rollup merger as the collector hands them over: every 200 ms,
            // 4,000 readings at 20,000 readings/s.
            if i % 4000 == 0 { tiers.drain { _, bucket in drained &+= Int(bucket.count) } }
            let sample = Sample(time: t, value: Double(i & 1023))
            tiers.add(series: SeriesID(Int32(s)), time: sample.time, value: sample.value)
            rings.record(sample, of: SeriesID(Int32(s)))
            if let engine {
                fired &+= engine.observe(series: series[s], sample: sample, now: t, entry: .some(entries[s])) { [] }.count
            }
        }
        benchmark.stopMeasurement()
        precondition(fired == 0)
        blackHole(drained)
        blackHole(tiers.isClean)
        blackHole(rings.latest(of: SeriesID(0)))
    }

    // A million readings a sample (1,000 rounds of the 1k series, 10,000 s of sensor time):
    // buckets of every tier roll over, as they do in a running collector.
    Benchmark("Hot path: ring + 4 tiers, 1k series (reference)",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .mega,
                                   maxDuration: .seconds(3))) { benchmark in
        hotPath(nil, benchmark)
    }

    Benchmark("Hot path: ring + 4 tiers + 1000 rules, 1k series",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .mega,
                                   maxDuration: .seconds(10))) { benchmark in
        hotPath(AlertEngine(rules: rules, catalogue: catalogue, now: 0), benchmark)
    }

    Benchmark("RollingSum.add, 24 h window, 10 min rain") { benchmark in
        var w = RollingSum(window: 86_400_000)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { w.add(Sample(time: EpochMillis(i) * 600_000, value: Double(i % 7))) }
        benchmark.stopMeasurement()
        blackHole(w.sum)
    }

    Benchmark("FireDangerTracker.record, 10 min readings") { benchmark in
        var f = FireDangerTracker(timeZone: TimeZone(identifier: "Asia/Ho_Chi_Minh")!)
        let names = ["temp_c", "rh_pct", "rain_mm"]
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(f.record(metric: names[i % 3], time: 1_795_000_000_000 + EpochMillis(i / 3) * 600_000, value: 30))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("AirQualityTracker.record, 10 min PM2.5") { benchmark in
        var a = AirQualityTracker()
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            a.record(metric: "pm25_ugm3", time: 1_795_000_000_000 + EpochMillis(i) * 600_000, value: Double(i % 50))
        }
        benchmark.stopMeasurement()
        blackHole(a.newestHour)
    }
}

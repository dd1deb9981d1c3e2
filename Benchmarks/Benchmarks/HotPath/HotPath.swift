import Benchmark
import Foundation
import Telemetry

/// The parts of the hot path per reading: the downsampler (4 tiers) with realistic sensor
/// traffic (1,000 series, 10 s intervals with jitter, fixed seed) and the series' ring; the
/// decoders; memory per series. The whole hot path, with and without rules, is in `Rules`.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    // A million readings a sample: buckets of every tier roll over, as in a running collector.
    Benchmark("Downsampler.add, 4 tiers, in order, 1k series",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .mega,
                                   maxDuration: .seconds(3))) { benchmark in
        var d = Downsampler(days: LocalDays(timeZone: TimeZone(identifier: "Asia/Ho_Chi_Minh")!))
        d.reserve(seriesCount: 1000)
        var rng = SplitMix64(seed: 42)
        var t: EpochMillis = 1_795_000_000_000
        // Warm: every series has an open bucket, so the loop measures steady state.
        for s in 0..<1000 { d.add(series: SeriesID(Int32(s)), time: t, value: 0) }
        var drained = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            let s = i % 1000
            if s == 0 { t += 10_000 }
            // The deltas go to the rollup merger as the collector hands them over: every 200 ms,
            // 4,000 readings at 20,000 readings/s.
            if i % 4000 == 0 { d.drain { _, bucket in drained &+= Int(bucket.count) } }
            d.add(series: SeriesID(Int32(s)), time: t + EpochMillis(rng.next() % 500), value: Double(i & 1023) * 0.1)
        }
        benchmark.stopMeasurement()
        blackHole(drained)
        blackHole(d.isClean)
    }

    Benchmark("SeriesRings.record, in order, one series") { benchmark in
        var rings = SeriesRings(capacity: 256)
        rings.reserve(seriesCount: 1)
        let id = SeriesID(0)
        rings.record(Sample(time: -1, value: 0), of: id)   // its chunk is allocated here
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            rings.record(Sample(time: EpochMillis(i) * 10_000, value: Double(i)), of: id)
        }
        benchmark.stopMeasurement()
        blackHole(rings.latest(of: id))
    }

    Benchmark("SenMLDecoder, pack of 10 records") { benchmark in
        let decoder = SenMLDecoder()
        var records = [#"{"bn":"urn:dev:ow:10e2073a01080063:","bt":1795000000,"n":"temp_c","v":27.2}"#]
        for i in 1..<10 { records.append(#"{"n":"temp_c","t":\#(i * 10),"v":\#(27 + Double(i) / 10)}"#) }
        let payload = Array(("[" + records.joined(separator: ",") + "]").utf8)
        let context = DecodeContext(topic: "telemetry/gw", now: 1_795_000_100_000)
        var out: [Reading] = []
        out.reserveCapacity(16)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            try? decoder.decode(payload, context: context, into: &out)
        }
        benchmark.stopMeasurement()
        precondition(out.count == 10)
        blackHole(out.count)
    }

    Benchmark("LineProtocolDecoder, 10 lines of 2 fields") { benchmark in
        let decoder = LineProtocolDecoder()
        let lines = (0..<10).map { "weather,sensor=ft-mt-0001,district=muong-te temp_c=\(27 + $0),rh_pct=40i 17950000\($0)0000000000" }
        let payload = Array(lines.joined(separator: "\n").utf8)
        let context = DecodeContext(topic: "telemetry/gw", now: 1_795_000_100_000)
        var out: [Reading] = []
        out.reserveCapacity(32)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            try? decoder.decode(payload, context: context, into: &out)
        }
        benchmark.stopMeasurement()
        precondition(out.count == 20)
        blackHole(out.count)
    }

    Benchmark("JSONPayloadDecoder, object with 3 metrics") { benchmark in
        let decoder = JSONPayloadDecoder()
        let payload = Array(#"{"sensor":"ft-mt-0001","ts":1795000000,"temp_c":31.2,"rh_pct":40,"rain_mm":0}"#.utf8)
        let context = DecodeContext(topic: "telemetry/ft-mt-0001", now: 1_795_000_000_000)
        var out: [Reading] = []
        out.reserveCapacity(8)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            try? decoder.decode(payload, context: context, into: &out)
        }
        benchmark.stopMeasurement()
        precondition(out.count == 3)
        blackHole(out.count)
    }
    // The block codec (storage issue) on a day of a 10 s sensor: 8,640 samples, two decimals,
    // a slow drift, 2 % of times a second off. Per sample: the time divided by 8,640.
    let day: [Sample] = {
        var rng = SplitMix64(seed: 42)
        var v = 25.0
        return (0..<8_640).map { k in
            v = ((v + Double(Int(rng.next() % 5) - 2) / 100) * 100).rounded() / 100
            return Sample(time: 1_795_000_000_000 + EpochMillis(k) * 10_000 + (rng.next() % 50 == 0 ? 1000 : 0), value: v)
        }
    }()
    let block = SampleBlock.encode(day)
    Benchmark("SampleBlock.encode, a 10 s sensor day (8,640 samples)",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(SampleBlock.encode(day).count) }
    }
    Benchmark("SampleBlock.decode, a 10 s sensor day (8,640 samples)",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! SampleBlock.decode(block).count) }
    }

    // Memory per series: 100,000 series, each ring holding an hour of 10 s readings (360 slots),
    // with the series registry's names. Peak resident memory is the figure (target <= 1 GB).
    Benchmark("Memory: 100k series x 360 ring slots (an hour of 10 s readings)",
              configuration: .init(metrics: [.peakMemoryResident, .wallClock], scalingFactor: .one, maxDuration: .seconds(60),
                                   maxIterations: 1)) { benchmark in
        var registry = SeriesRegistry(limit: 200_000)
        var rings = SeriesRings(capacity: 360)
        for i in 0..<100_000 {
            let name = try! SeriesName(sensor: "mt-\(i / 2)", metric: i % 2 == 0 ? "kwh" : "voltage_v")
            let id = registry.intern(name)!
            rings.reserve(seriesCount: id.index + 1)
            for k in 0..<360 { rings.record(Sample(time: 1_795_000_000_000 + EpochMillis(k) * 10_000, value: Double(k)), of: id) }
        }
        blackHole(rings.seriesCount + registry.count)
    }
}

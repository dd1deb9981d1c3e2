import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Prometheus
import ServiceLifecycle
import Telemetry

/// Sends the final rollup buckets of one tier to a Prometheus remote write 1.0 receiver
/// (VictoriaMetrics, Prometheus with `--web.enable-remote-write-receiver`): federation
/// upwards. A bucket is final once it ends `accept_age` (and a few minutes for the rollup
/// merger, `settleMillis`) or more ago: no reading accepted since can change it. Provisional buckets are not
/// sent: neither receiver revises a sample in place (Prometheus refuses a second value at a
/// timestamp; VictoriaMetrics keeps both). Each series' bucket goes out as four
/// samples at the bucket's start, `stat` = sum, count, min, max, with the series' labels (its
/// sensor, unit and each declared level's group, kind, zone, the province). How far it has
/// sent is kept in a state file beside the store (or, over a shared store, in it) and moved on
/// only after the receiver's 2xx: a failure or a restart sends the same buckets again
/// (idempotent: the same samples). A 4xx other than 429 is the receiver refusing those samples
/// for good: counted, logged, passed. Over a shared store one collector sends (`active`: the
/// province lease's holder), from where the last one stopped.
struct RemoteWriter: Service {
    let target: CollectorConfig.RemoteWriteTarget
    let reader: any TelemetryQueries
    let timeZone: TimeZoneID
    let live: LiveCatalogue
    let acceptAgeMillis: Int64
    let watermarks: Watermarks
    let clock: any WallClock
    let logger: Logger
    let metrics: Metrics
    /// Whether this collector sends now (a round is skipped otherwise).
    var active: @Sendable () -> Bool = { true }

    /// Where how far a target has taken is kept.
    enum Watermarks: Sendable {
        /// A file beside the SQLite store (`statePath`).
        case file(String)
        /// The shared store's `remote_write_state`, under this key: whichever collector sends
        /// goes on from there.
        case shared(PostgresStore, key: String)
    }

    struct Metrics: Sendable {
        let sent: Counter
        let rejected: Counter
        let failures: Counter
        let watermark: Gauge

        init(registry: PrometheusCollectorRegistry, url: String) {
            let samples = IngestMetrics.named("collector_remote_write_samples_total", "Samples sent to a remote write target, by outcome")
            sent = registry.makeCounter(descriptor: samples, labels: [("url", url), ("outcome", "sent")])
            rejected = registry.makeCounter(descriptor: samples, labels: [("url", url), ("outcome", "rejected")])
            failures = registry.makeCounter(descriptor: IngestMetrics.named("collector_remote_write_failures_total",
                                                                            "Remote write requests that failed and will be sent again"),
                                            labels: [("url", url)])
            watermark = registry.makeGauge(descriptor: IngestMetrics.named("collector_remote_write_watermark_seconds",
                                                                           "The end of the buckets a remote write target has taken"),
                                           labels: [("url", url)])
        }
    }

    /// Samples per request, at most (receivers cap a body: VictoriaMetrics at 32 MB).
    static let maxSamples = 40_000
    /// How long after `accept_age` a bucket is taken as final: the rollup merger writes a
    /// reading's buckets a few seconds after its commit (5 minutes; a tenth of a short
    /// `accept_age`, at least 10 s).
    var settleMillis: Int64 { max(10_000, min(300_000, acceptAgeMillis / 10)) }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    if active() { try await sendFinal() }
                } catch {
                    if Task.isCancelled { return }   // shutdown (URLSession says URLError.cancelled)
                    metrics.failures.increment()
                    logger.warning("remote write failed; the same buckets go again", metadata: ["url": "\(target.url)", "error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(target.intervalMillis))
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends every final bucket after the state file's watermark: a chunk of time at a time,
    /// and within it a chunk of series at a time, so a request stays under `maxSamples`
    /// however many series the store has. The watermark moves once a time chunk is sent
    /// whole.
    func sendFinal() async throws {
        let tier = target.tier
        // Bucket starts as the store aligns them (1d: local midnight, DST included).
        let horizon = bucketStart(tier, clock.now() - acceptAgeMillis - settleMillis)   // buckets starting before it are final
        var from = try await loadWatermark() ?? bucketStart(tier, horizon - target.backfillMillis)
        metrics.watermark.set(to: Double(from) / 1000)
        guard from < horizon else { return }
        let series = try await reader.seriesList()
        guard !series.isEmpty else { return }
        let catalogue = live.current
        let plan = StepPlan(step: tier.description)!
        let width = tier.widthMillis
        let bucketsPerChunk = Int64(max(1, min(1_440, Self.maxSamples / 4 / max(1, min(series.count, Self.maxSamples / 4)))))
        let seriesPerRequest = max(1, Self.maxSamples / 4 / Int(bucketsPerChunk))
        while from < horizon {
            try Task.checkCancellation()
            guard active() else { return }   // (the province lease moved on mid-round)
            let to = min(bucketStart(tier, from + bucketsPerChunk * width + width / 2), horizon)
            guard to > from else { break }
            for chunk in stride(from: 0, to: series.count, by: seriesPerRequest) {
                let part = Array(series[chunk..<min(chunk + seriesPerRequest, series.count)])
                let buckets = try await reader.rollups(part.map(\.id), plan: plan, from: from, to: to)
                var request = RemoteWriteRequest()
                for s in part {
                    guard let bs = buckets[s.id] else { continue }
                    let times = bs.keys.filter { $0 >= from && $0 < to }.sorted()
                    guard !times.isEmpty else { continue }
                    let base = Self.labels(of: s, catalogue: catalogue, tier: tier)
                    for (stat, value) in [("sum", { (b: Bucket) in b.sum }), ("count", { Double($0.count) }), ("min", { $0.min }), ("max", { $0.max })] {
                        request.series.append(.init(labels: base + [("stat", stat)], samples: times.map { ($0, value(bs[$0]!)) }))
                    }
                }
                let samples = request.series.reduce(0) { $0 + $1.samples.count }
                if samples > 0 { try await post(request, samples: samples) }
            }
            from = to
            try await saveWatermark(from)
            metrics.watermark.set(to: Double(from) / 1000)
        }
    }

    private func post(_ request: RemoteWriteRequest, samples: Int) async throws {
        guard let url = URL(string: target.url) else { throw Failure(description: "bad url") }
        var r = URLRequest(url: url)
        r.httpMethod = "POST"
        r.httpBody = Data(request.body())
        r.timeoutInterval = 30
        r.setValue("snappy", forHTTPHeaderField: "Content-Encoding")
        r.setValue("application/x-protobuf", forHTTPHeaderField: "Content-Type")
        r.setValue("0.1.0", forHTTPHeaderField: "X-Prometheus-Remote-Write-Version")
        r.setValue("collector", forHTTPHeaderField: "User-Agent")
        for (k, v) in target.headers { r.setValue(v, forHTTPHeaderField: k) }
        let (data, response) = try await URLSession.shared.data(for: r)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        switch status {
        case 200..<300:
            metrics.sent.increment(by: Int64(samples))
        case 400..<500 where status != 429:
            metrics.rejected.increment(by: Int64(samples))
            logger.error("a remote write target refused samples for good; passing them",
                         metadata: ["url": "\(target.url)", "status": "\(status)", "answer": "\(String(decoding: data.prefix(300), as: UTF8.self))"])
        default:
            throw Failure(description: "HTTP \(status): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
    }

    /// A series' labels: its metric as `__name__` (characters Prometheus does not take as
    /// `_`), its sensor, the tier, and what the catalogue (or the topic) says of where it is.
    static func labels(of s: TelemetryReader.SeriesInfo, catalogue: Catalogue, tier: Tier) -> [(name: String, value: String)] {
        // The metric as it is, too: `temp.c` and `temp_c` share a name but not their labels.
        var out: [(name: String, value: String)] = [("__name__", promName(s.name.metric)), ("metric", s.name.metric),
                                                    ("sensor", s.name.sensor), ("tier", tier.description)]
        if let p = catalogue.province { out.append(("province", p.id)) }
        let entry = catalogue.sensor(s.name.sensor)
        if let kind = entry?.kind.rawValue ?? s.kind { out.append(("kind", kind)) }
        if let zone = entry?.zone { out.append(("zone", zone)) }
        if let unit = entry?.unit ?? s.unit {
            out.append(("unit", unit))
            for level in catalogue.levels { if let g = catalogue.place(unit, at: level.id) { out.append((promName(level.id), g)) } }
        }
        return out
    }

    /// A name Prometheus takes (`[a-zA-Z_][a-zA-Z0-9_]*`): other characters as `_`.
    static func promName(_ s: String) -> String {
        var name = String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
        if name.first?.isNumber ?? true { name = "_" + name }
        return name
    }

    private func bucketStart(_ tier: Tier, _ t: EpochMillis) -> EpochMillis {
        tier.bucket(containing: t, days: LocalDays(timeZone: timeZone.zone)).start
    }

    private func loadWatermark() async throws -> EpochMillis? {
        switch watermarks {
        case .file(let path):
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { EpochMillis($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        case .shared(let store, let key):
            try await blocking(qos: .utility) { try store.remoteWriteWatermark(key) }
        }
    }

    private func saveWatermark(_ t: EpochMillis) async throws {
        switch watermarks {
        case .file(let path): try String(t).write(toFile: path, atomically: true, encoding: .utf8)
        case .shared(let store, let key): try await blocking(qos: .utility) { try store.setRemoteWriteWatermark(key, t) }
        }
    }

    /// The key of a target's watermark in a shared store: its URL and tier.
    static func stateKey(url: String, tier: Tier) -> String { url + " " + tier.description }

    /// The state file of a target: beside the store, named after the target's URL and tier.
    static func statePath(storage: String, url: String, tier: Tier) -> String {
        storage + ".remote-write-" + String(StableHash.fnv1a(url + " " + tier.description), radix: 16) + ".state"
    }
}

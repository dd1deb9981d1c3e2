import Hummingbird
import Prometheus
import Telemetry

/// The HTTP API (README, "HTTP API") over a `TelemetryReader`.
struct APIRoutes: Sendable {
    let reader: any TelemetryQueries
    let live: LiveCatalogue
    let status: CollectorStatus
    let metrics: PrometheusCollectorRegistry
    let clock: any WallClock

    /// Most raw points one answer carries; beyond it the caller is told to use a step.
    static let maxRawPoints = 100_000
    /// Most rollup buckets one answer carries.
    static let maxBuckets = 100_000

    func register(on router: Router<BasicRequestContext>) {
        router.read("/healthz") { _, _ in
            var j = JSONText()
            j.object { $0.field("status") { $0.string("ok") } }
            return j.response()
        }
        router.read("/readyz") { _, _ in try await ready() }
        router.read("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
        router.read("/api/v1/raw") { request, _ in try await raw(request) }
        router.read("/api/v1/rollups") { request, _ in try await rollups(request) }
        router.read("/api/v1/quarantine") { request, _ in try await quarantine(request) }
    }

    func ready() async throws -> Response {
        var reason = status.notReadyReason
        if reason == nil {
            do { try await reader.ping() } catch { reason = "storage: \(StorageFailure.brief(error))" }
        }
        var j = JSONText()
        if let reason {
            j.object {
                $0.field("error") { $0.string("not_ready") }
                $0.field("detail") { $0.string(reason) }
            }
            return j.response(status: .serviceUnavailable)
        }
        let mqtt = status.snapshot.mqttDetail   // which broker (node of a cluster) the link uses
        j.object {
            $0.field("status") { $0.string("ready") }
            $0.field("mqtt") { $0.string(mqtt) }
        }
        return j.response()
    }

    func raw(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let name = try q.series()
        let (from, to) = try q.range(defaultSpan: 3_600_000)
        let points = try q.int("points", in: 3...100_000)
        let format = try q.format()
        guard let id = try await reader.seriesID(name) else { throw APIError.notFound("no series '\(name)'") }
        var (samples, truncated) = try await reader.raw(id, from: from, to: to, limit: Self.maxRawPoints)
        if truncated {
            guard let points else {
                let step = (to - from) / 86_400_000 >= 7 ? "1h" : "1m"
                throw APIError.badParameter("from", "the range holds more than \(Self.maxRawPoints) raw readings; narrow it, pass points=N, or ask /api/v1/rollups with step=\(step)")
            }
            // Downsampled as the readings stream past, however many the range holds.
            samples = try await reader.rawDownsampled(id, from: from, to: to, threshold: points)
        } else if let points {
            samples = LTTB.downsample(samples, to: points)
        }
        switch format {
        case .csv:
            var out = "t,value\n"
            for s in samples { out += "\(JSONText.seconds(s.time)),\(JSONText.number(s.value))\n" }
            return csv(out)
        case .json:
            // About 32 bytes a sample: one allocation for the answer.
            var j = JSONText(reservingCapacity: 256 + samples.count * 32)
            j.object {
                $0.field("series") { $0.string(name.description) }
                $0.field("points") {
                    $0.array { a in
                        for s in samples {
                            a.row {
                                $0.seconds("t", s.time)
                                $0.double("value", s.value)
                            }
                        }
                    }
                }
            }
            return j.response()
        }
    }

    func rollups(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let stepText = try q.required("step")
        guard let plan = StepPlan(step: stepText) else {
            throw APIError.badParameter("step", "must be a whole number of minutes, hours or days that a tier divides (1m, 5m, 15m, 1h, 6h, 1d, 7d)")
        }
        let (from, to) = try q.range(defaultSpan: plan.tier == .day ? 30 * 86_400_000 : 86_400_000)
        let format = try q.format()
        if q.string("series") == nil {
            guard q.string("metric") != nil else { throw APIError.badParameter("series", "series (one series) or metric (grouped) is required") }
            guard q.string("fields") == nil else { throw APIError.badParameter("fields", "applies to one series; a grouped answer carries one value a bucket (agg)") }
            return try await grouped(q, plan: plan, step: stepText, from: from, to: to, format: format)
        }
        let name = try q.series()
        let wanted = try q.bucketFields() ?? .all
        if plan.count(from: from, to: to) > Int64(Self.maxBuckets) {
            throw APIError.badParameter("from", "the range spans more than \(Self.maxBuckets) buckets of \(stepText); use a larger step")
        }
        guard let rows = try await reader.rollups(named: name, plan: plan, from: from, to: to) else {
            throw APIError.notFound("no series '\(name)'")
        }
        let fields = BucketFields.ordered.filter { wanted.contains($0.field) }
        switch format {
        case .csv:
            var out = "t," + fields.map { "\($0.name)" }.joined(separator: ",") + "\n"
            for (t, b) in rows {
                out += JSONText.seconds(t)
                for f in fields {
                    out += "," + (f.field == .count ? String(b.count) : JSONText.number(BucketFields.value(f.field, of: b)))
                }
                out += "\n"
            }
            return csv(out)
        case .json:
            // About 16 bytes a time and 20 a field: one allocation for the answer.
            var j = JSONText(reservingCapacity: 256 + rows.count * (16 + 20 * fields.count))
            j.object {
                $0.field("series") { $0.string(name.description) }
                $0.field("step") { $0.string(stepText) }
                $0.field("points") {
                    $0.array { a in
                        for (t, b) in rows {
                            a.row {
                                $0.seconds("t", t)
                                for f in fields {
                                    if f.field == .count {
                                        $0.int(f.name, b.count)
                                    } else {
                                        $0.double(f.name, BucketFields.value(f.field, of: b))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return j.response()
        }
    }

    enum Aggregate: String { case avg, sum, min, max, count }
    /// One metric over many series, grouped by `unit`, a level the catalogue declares
    /// (`district`), `kind` or `sensor`, computed from the stored rollups (never from raw). A
    /// group's bucket merges its series' buckets, so `avg` is the mean of all readings in the
    /// group, not a mean of means. A series keeps the place its catalogue entry gives, else
    /// the label its topic gave (a former district stays answerable at the `district` level).
    func grouped(_ q: QueryParameters, plan: StepPlan, step: String, from: EpochMillis, to: EpochMillis,
                 format: QueryParameters.OutputFormat) async throws -> Response {
        let metric = try q.required("metric")
        let aggText = q.string("agg") ?? "avg"
        guard let agg = Aggregate(rawValue: aggText) else { throw APIError.badParameter("agg", "must be avg, sum, min, max or count") }
        let catalogue = live.current
        let by = q.string("group_by") ?? Catalogue.unitLevel
        let level = by == "kind" || by == "sensor" ? nil : catalogue.level(named: by)
        guard by == "kind" || by == "sensor" || level != nil else {
            throw APIError.badParameter("group_by", "must be unit, \(catalogue.levels.map { $0.id + ", " }.joined())kind or sensor")
        }
        let kind = q.string("kind")
        if let kind, SensorKind(rawValue: kind) == nil {
            throw APIError.badParameter("kind", "must be \(SensorKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let places = PlaceFilter(q, catalogue: catalogue)
        var members: [SeriesID: String] = [:]
        for s in try await reader.seriesList() where s.name.metric == metric {
            let entry = catalogue.sensor(s.name.sensor)
            let sKind = entry?.kind.rawValue ?? s.kind
            let sUnit = entry?.unit ?? s.unit
            guard kind == nil || sKind == kind, places.matches(sUnit) else { continue }
            let id = s.id
            if let level { members[id] = sUnit.flatMap { catalogue.place($0, at: level) } ?? "unknown" }
            else if by == "kind" { members[id] = sKind ?? "unknown" }
            else { members[id] = s.name.sensor }
        }
        let groupCount = Set(members.values).count
        if Int64(groupCount) * plan.count(from: from, to: to) > Int64(Self.maxBuckets) {
            throw APIError.badParameter("from", "\(groupCount) groups x \(step) buckets is more than \(Self.maxBuckets) points; use a larger step or a narrower range")
        }
        let keys = Set(members.values).sorted()
        let index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        let groupOf = members.mapValues { index[$0]! }
        let merged = try await reader.groupedRollups(groupOf, groupCount: keys.count, plan: plan, from: from, to: to)
        func value(_ b: GroupBucket) -> Double {
            switch agg {
            case .avg: b.average
            case .sum: b.sum
            case .min: b.min
            case .max: b.max
            case .count: Double(b.count)
            }
        }
        let sorted = zip(keys, merged).filter { !$0.1.isEmpty }
        switch format {
        case .csv:
            var out = "key,t,value\n"
            for (key, points) in sorted {
                let cell = CSVText.field(key)
                for (t, b) in points { out += "\(cell),\(JSONText.seconds(t)),\(JSONText.number(value(b)))\n" }
            }
            return csv(out)
        case .json:
            var j = JSONText()
            j.object {
                $0.field("metric") { $0.string(metric) }
                $0.field("step") { $0.string(step) }
                $0.field("agg") { $0.string(agg.rawValue) }
                $0.field("group_by") { $0.string(by) }
                $0.field("groups") {
                    $0.array { a in
                        for (key, points) in sorted {
                            a.object {
                                $0.field("key") { $0.string(key) }
                                $0.field("points") {
                                    $0.array { pa in
                                        for (t, b) in points {
                                            pa.row {
                                                $0.seconds("t", t)
                                                $0.double("value", value(b))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return j.response()
        }
    }

    /// Recent rejected messages, newest first, with counts by reason over what is kept.
    func quarantine(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let limit = try q.int("limit", in: 1...1000) ?? 100
        let reason = q.string("reason").flatMap { $0.isEmpty ? nil : $0 }
        let records = try await reader.quarantine(limit: limit, reason: reason)
        let counts = try await reader.quarantineCounts()
        var j = JSONText()
        j.object {
            $0.field("counts") {
                $0.object { o in for (r, n) in counts { o.field(named: r) { $0.int(Int64(n)) } } }
            }
            $0.field("messages") {
                $0.array { a in
                    for m in records {
                        a.object {
                            $0.field("t") { $0.seconds(m.received) }
                            $0.field("topic") { $0.string(m.topic) }
                            $0.field("reason") { $0.string(m.reason) }
                            $0.field("detail") { $0.string(m.detail) }
                            $0.field("payload") { $0.string(String(decoding: m.payload, as: UTF8.self)) }
                        }
                    }
                }
            }
        }
        return j.response()
    }

    private func csv(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

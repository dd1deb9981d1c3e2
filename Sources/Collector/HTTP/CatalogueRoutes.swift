import Alerts
import Foundation
import HTTPTypes
import Hummingbird
import Telemetry

/// `/api/v1/sensors`, `/api/v1/series`, `/api/v1/coverage[/daily]` and `/api/v1/places`:
/// what the catalogue expects against what reports, and where.
struct CatalogueRoutes: Sendable {
    let reader: any TelemetryQueries
    let live: LiveCatalogue
    let coverage: CollectorConfig.CoverageConfig
    let timeZone: TimeZoneID
    let clock: any WallClock

    func register(on router: Router<BasicRequestContext>) {
        router.read("/api/v1/sensors") { request, _ in try await sensors(request) }
        router.read("/api/v1/series") { request, _ in try await series(request) }
        router.read("/api/v1/coverage") { request, _ in try await coverageAnswer(request) }
        router.read("/api/v1/coverage/daily") { request, _ in try await coverageDaily(request) }
        router.read("/api/v1/places") { _, _ in places() }
    }

    /// Healthy = a reading within 3 x the sensor's expected interval.
    enum Status: String { case online, stale, unregistered }

    func sensors(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let wantStatus = try q.string("status").map { s -> Status in
            guard let v = Status(rawValue: s) else { throw APIError.badParameter("status", "must be online, stale or unregistered") }
            return v
        }
        let kind = try kindParameter(q)
        let now = clock.now()
        let lastSeen = try await reader.sensorsLastSeen()
        let catalogue = live.current
        let places = PlaceFilter(q, catalogue: catalogue)
        let catalogued = Set(catalogue.sensors.map(\.id))
        var j = JSONText()
        j.array { a in
            for s in catalogue.sensors {
                let seen = lastSeen[s.id]
                let status: Status = seen.map { now - $0 <= 3 * s.intervalMillis } == true ? .online : .stale
                guard wantStatus == nil || wantStatus == status, kind == nil || kind == s.kind,
                      places.matches(s.unit) else { continue }
                a.object {
                    $0.field("id") { $0.string(s.id) }
                    $0.field("name") { if let n = s.name { $0.string(n) } else { $0.null() } }
                    $0.field("kind") { $0.string(s.kind.rawValue) }
                    $0.field("unit") { $0.string(s.unit) }
                    $0.field("zone") { if let z = s.zone { $0.string(z) } else { $0.null() } }
                    $0.field("interval_s") { $0.int(s.intervalMillis / 1000) }
                    $0.field("status") { $0.string(status.rawValue) }
                    $0.field("last_seen") { if let t = seen { $0.seconds(t) } else { $0.null() } }
                    if let lat = s.latitude, let lon = s.longitude {
                        $0.field("location") { $0.object { o in o.field("lat") { $0.double(lat) }; o.field("lon") { $0.double(lon) } } }
                    }
                }
            }
            guard wantStatus == nil || wantStatus == .unregistered, kind == nil, places.isEmpty else { return }
            for (id, t) in lastSeen.sorted(by: { $0.key < $1.key }) where !catalogued.contains(id) && !DerivedScope.isDerived(id) {
                a.object {
                    $0.field("id") { $0.string(id) }
                    $0.field("status") { $0.string(Status.unregistered.rawValue) }
                    $0.field("last_seen") { $0.seconds(t) }
                }
            }
        }
        return j.response()
    }

    /// The most series one answer lists; `limit` may ask for fewer.
    static let maxSeriesPage = 10_000

    /// The stored series, by name, filtered; a page of at most `limit` (default and maximum
    /// 10,000), with `Link: <...&after=NAME>; rel="next"` while more may follow.
    func series(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let kind = try kindParameter(q)
        let catalogue = live.current
        let places = PlaceFilter(q, catalogue: catalogue)
        let sensor = q.string("sensor")
        let metric = q.string("metric")
        let limit = try q.int("limit", in: 1...Self.maxSeriesPage) ?? Self.maxSeriesPage
        let after = q.string("after")
        var cursor = after
        var rows: [(info: TelemetryReader.SeriesInfo, kind: String?, unit: String?)] = []
        var more = false
        // Chunks of the largest page whatever `limit` is (a filter matching little must not
        // cost a query per series).
        let newest = reader.pendingNewest()
        scan: while true {
            let chunk = try await reader.seriesPage(after: cursor, limit: Self.maxSeriesPage, pendingNewest: newest)
            for s in chunk {
                if rows.count == limit { more = true; break scan }
                cursor = s.name.description
                let entry = catalogue.sensor(s.name.sensor)
                let sKind = entry?.kind.rawValue ?? s.kind
                let sUnit = entry?.unit ?? s.unit
                guard kind == nil || sKind == kind?.rawValue, places.matches(sUnit),
                      sensor == nil || s.name.sensor == sensor, metric == nil || s.name.metric == metric else { continue }
                rows.append((s, sKind, sUnit))
            }
            if chunk.count < Self.maxSeriesPage { break }
        }
        var j = JSONText()
        j.array { a in
            for (s, sKind, sUnit) in rows {
                a.object {
                    $0.field("series") { $0.string(s.name.description) }
                    $0.field("sensor") { $0.string(s.name.sensor) }
                    $0.field("metric") { $0.string(s.name.metric) }
                    $0.field("kind") { if let k = sKind { $0.string(k) } else { $0.null() } }
                    $0.field("unit") { if let u = sUnit { $0.string(u) } else { $0.null() } }
                    $0.field("last_t") { if let t = s.lastTime { $0.seconds(t) } else { $0.null() } }
                    $0.field("last_value") { if let v = s.lastValue { $0.double(v) } else { $0.null() } }
                }
            }
        }
        var response = j.response()
        if more, let cursor {
            var params = [("limit", String(limit)), ("after", cursor)]
            for (k, v) in [("kind", kind?.rawValue), ("sensor", sensor), ("metric", metric)] {
                if let v { params.append((k, v)) }
            }
            params += places.given
            let query = params.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "=", "+"])) ?? "")" }
            response.headers[HTTPField.Name("Link")!] = "</api/v1/series?\(query.joined(separator: "&"))>; rel=\"next\""
        }
        return response
    }

    /// The plan's indicators now, for the province and each place at `level` (default the
    /// units; or a level the catalogue declares, such as `district`).
    func coverageAnswer(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let indicator = q.string("indicator")
        let scope = q.string("scope")
        let now = clock.now()
        let catalogue = live.current
        let level = try levelParameter(q, catalogue)
        let all = CoverageCalculator.compute(catalogue, lastSeen: try await reader.sensorsLastSeen(), now: now,
                                             year: AlertStage.year(now, timeZone), targets: coverage.targets,
                                             water: try await waterDays(catalogue), level: level)
        var j = JSONText()
        j.array { a in
            for c in all where (indicator == nil || c.indicator == indicator) && (scope == nil || c.scope == scope) {
                a.object {
                    $0.field("indicator") { $0.string(c.indicator) }
                    $0.field("scope") { $0.string(c.scope) }
                    $0.field("value_pct") { $0.double((c.valuePct * 100).rounded() / 100) }
                    $0.field("target_pct") { if let t = c.targetPct { $0.double(t) } else { $0.null() } }
                    $0.field("target_year") { if let y = c.targetYear { $0.int(Int64(y)) } else { $0.null() } }
                    $0.field("numerator") { $0.double(c.numerator) }
                    $0.field("denominator") { $0.double(c.denominator) }
                    $0.field("target_is_max") { $0.bool(c.targetIsMaximum) }
                }
            }
        }
        return j.response()
    }

    /// Each catalogued DMA's latest complete day, from its stored `dma.<id>` series: its
    /// inflow, and its loss when that day has one (none: an inflow-meter fault).
    func waterDays(_ catalogue: Catalogue) async throws -> [CoverageCalculator.WaterDay] {
        var out: [CoverageCalculator.WaterDay] = []
        for s in catalogue.sensors where s.kind == .water && s.role == .inflow {
            guard let dma = s.zone, let inflowName = try? SeriesName(sensor: "dma.\(dma)", metric: "inflow_m3"),
                  let nrwName = try? SeriesName(sensor: "dma.\(dma)", metric: "nrw_pct"),
                  let inflow = try await reader.latest(inflowName) else { continue }
            let nrw = try await reader.latest(nrwName)
            out.append(.init(dma: dma, unit: s.unit, inflowM3: inflow.value, nrwPct: nrw?.time == inflow.time ? nrw?.value : nil))
        }
        return out
    }

    /// The yearly report: one indicator's daily values (mean, min and max of the day's stored
    /// values, from the 1d rollups of `coverage.<scope>/<indicator>`) for every scope, over the
    /// local calendar year, with the year's target and how many days met it; the scopes are
    /// the province and the places at `level` (default the units).
    func coverageDaily(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let indicators = ["forest_monitored_pct", "meters_reporting_pct", "env_communes_pct", "junctions_monitored_pct",
                          "water_loss_pct", "dma_at_target_pct"]
        guard let indicator = q.string("indicator") else { throw APIError.badParameter("indicator", "is required: one of \(indicators.joined(separator: ", "))") }
        guard indicators.contains(indicator) else { throw APIError.badParameter("indicator", "must be one of \(indicators.joined(separator: ", "))") }
        let now = clock.now()
        let year = try q.int("year", in: 2000...2100) ?? AlertStage.year(now, timeZone)
        let scope = q.string("scope")
        let catalogue = live.current
        let level = try levelParameter(q, catalogue)
        // Scopes at the level (old stores' figures of former districts answer at `district`);
        // a catalogue without units keeps every stored scope.
        let atLevel = Set(catalogue.places(at: level).map { "coverage.\($0)" } + ["coverage.province"])
        let format = try q.format()
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone.zone
        let start = cal.date(from: DateComponents(year: year, month: 1, day: 1))!
        let end = cal.date(from: DateComponents(year: year + 1, month: 1, day: 1))!
        let from = EpochMillis(start.timeIntervalSince1970 * 1000), to = EpochMillis(end.timeIntervalSince1970 * 1000)
        // The target in force that year, as the live indicators take it (past the last one: the last).
        let target = CoverageCalculator.target(coverage.targets[indicator], year: year)

        let series = try await reader.seriesList().filter {
            $0.name.metric == indicator && $0.name.sensor.hasPrefix("coverage.") && (scope == nil || $0.name.sensor == "coverage.\(scope!)")
                && (catalogue.units.isEmpty || atLevel.contains($0.name.sensor))
        }.sorted { a, b in
            // the province first, then the places by id
            (a.name.sensor == "coverage.province" ? "" : a.name.sensor) < (b.name.sensor == "coverage.province" ? "" : b.name.sensor)
        }
        let buckets = try await reader.rollups(series.map(\.id), plan: StepPlan(step: "1d")!, from: from, to: to)
        let dayFormat = Date.ISO8601FormatStyle(timeZone: timeZone.zone).year().month().day()
        func date(_ t: EpochMillis) -> String { Date(timeIntervalSince1970: Double(t) / 1000).formatted(dayFormat) }
        func round2(_ v: Double) -> Double { (v * 100).rounded() / 100 }

        if format == .csv {
            var out = "scope,date,avg,min,max\n"
            for s in series {
                for (t, b) in (buckets[s.id] ?? [:]).sorted(by: { $0.key < $1.key }) where b.count > 0 {
                    out += "\(CSVText.field(s.name.sensor.dropFirst("coverage.".count))),\(date(t)),\(JSONText.number(round2(b.sum / Double(b.count)))),"
                        + "\(JSONText.number(round2(b.min))),\(JSONText.number(round2(b.max)))\n"
                }
            }
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: out)))
        }
        var j = JSONText()
        j.object {
            $0.field("indicator") { $0.string(indicator) }
            $0.field("year") { $0.int(Int64(year)) }
            $0.field("target_pct") { if let t = target { $0.double(t.pct) } else { $0.null() } }
            $0.field("target_year") { if let t = target { $0.int(Int64(t.year)) } else { $0.null() } }
            $0.field("scopes") { a in
                a.array {
                    for s in series {
                        let days = (buckets[s.id] ?? [:]).sorted(by: { $0.key < $1.key }).filter { $0.value.count > 0 }
                        let means = days.map { $0.value.sum / Double($0.value.count) }
                        $0.object {
                            $0.field("scope") { $0.string(String(s.name.sensor.dropFirst("coverage.".count))) }
                            $0.field("days_reported") { $0.int(Int64(days.count)) }
                            $0.field("days_at_target") {
                                if let t = target {
                                    let ceiling = CoverageCalculator.ceilings.contains(indicator)   // water loss: at most the target
                                    $0.int(Int64(means.filter { ceiling ? $0 <= t.pct : $0 >= t.pct }.count))
                                } else { $0.null() }
                            }
                            $0.field("mean_pct") { means.isEmpty ? $0.null() : $0.double(round2(means.reduce(0, +) / Double(means.count))) }
                            $0.field("days") { d in
                                d.array {
                                    for (t, b) in days {
                                        $0.object {
                                            $0.field("date") { $0.string(date(t)) }
                                            $0.field("t") { $0.seconds(t) }
                                            $0.field("avg") { $0.double(round2(b.sum / Double(b.count))) }
                                            $0.field("min") { $0.double(round2(b.min)) }
                                            $0.field("max") { $0.double(round2(b.max)) }
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

    /// `level`: `unit` (the default), or a level the catalogue declares; without it, a `scope`
    /// that is a group of a level asks for that level (ids are unique across places).
    private func levelParameter(_ q: QueryParameters, _ catalogue: Catalogue) throws -> String {
        guard let name = q.string("level") else {
            if let scope = q.string("scope"), let level = catalogue.levels.first(where: { $0.groups.contains { $0.id == scope } }) {
                return level.id
            }
            return Catalogue.unitLevel
        }
        guard let level = catalogue.level(named: name) else {
            throw APIError.badParameter("level", "must be unit\(catalogue.levels.map { " or " + $0.id }.joined())")
        }
        return level
    }

    private func kindParameter(_ q: QueryParameters) throws -> SensorKind? {
        guard let k = q.string("kind") else { return nil }
        guard let v = SensorKind(rawValue: k) else {
            throw APIError.badParameter("kind", "must be \(SensorKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }
}

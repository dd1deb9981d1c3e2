import Alerts
import Hummingbird
import Telemetry

/// `/api/v1/sensors` and `/api/v1/series`: what the catalogue expects against what reports.
struct CatalogueRoutes: Sendable {
    let reader: TelemetryReader
    let catalogue: Catalogue
    let coverage: CollectorConfig.CoverageConfig
    let timeZone: TimeZoneID
    let clock: any WallClock

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/sensors") { request, _ in try await sensors(request) }
        router.get("/api/v1/series") { request, _ in try await series(request) }
        router.get("/api/v1/coverage") { request, _ in try await coverageAnswer(request) }
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
        let district = q.string("district")
        let now = clock.now()
        let lastSeen = try await reader.sensorsLastSeen()
        let catalogued = Set(catalogue.sensors.map(\.id))
        var j = JSONText()
        j.array { a in
            for s in catalogue.sensors {
                let seen = lastSeen[s.id]
                let status: Status = seen.map { now - $0 <= 3 * s.intervalMillis } == true ? .online : .stale
                guard wantStatus == nil || wantStatus == status, kind == nil || kind == s.kind,
                      district == nil || district == s.district else { continue }
                a.object {
                    $0.field("id") { $0.string(s.id) }
                    $0.field("kind") { $0.string(s.kind.rawValue) }
                    $0.field("district") { $0.string(s.district) }
                    $0.field("zone") { if let z = s.zone { $0.string(z) } else { $0.null() } }
                    $0.field("interval_s") { $0.int(s.intervalMillis / 1000) }
                    $0.field("status") { $0.string(status.rawValue) }
                    $0.field("last_seen") { if let t = seen { $0.seconds(t) } else { $0.null() } }
                    if let lat = s.latitude, let lon = s.longitude {
                        $0.field("location") { $0.object { o in o.field("lat") { $0.double(lat) }; o.field("lon") { $0.double(lon) } } }
                    }
                }
            }
            guard wantStatus == nil || wantStatus == .unregistered, kind == nil, district == nil else { return }
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

    func series(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let kind = try kindParameter(q)
        let district = q.string("district")
        let sensor = q.string("sensor")
        let metric = q.string("metric")
        var j = JSONText()
        let all = try await reader.seriesList()
        j.array { a in
            for s in all {
                let entry = catalogue.sensor(s.name.sensor)
                let sKind = entry?.kind.rawValue ?? s.kind
                let sDistrict = entry?.district ?? s.district
                guard kind == nil || sKind == kind?.rawValue, district == nil || sDistrict == district,
                      sensor == nil || s.name.sensor == sensor, metric == nil || s.name.metric == metric else { continue }
                a.object {
                    $0.field("series") { $0.string(s.name.description) }
                    $0.field("sensor") { $0.string(s.name.sensor) }
                    $0.field("metric") { $0.string(s.name.metric) }
                    $0.field("kind") { if let k = sKind { $0.string(k) } else { $0.null() } }
                    $0.field("district") { if let d = sDistrict { $0.string(d) } else { $0.null() } }
                    $0.field("last_t") { if let t = s.lastTime { $0.seconds(t) } else { $0.null() } }
                    $0.field("last_value") { if let v = s.lastValue { $0.double(v) } else { $0.null() } }
                }
            }
        }
        return j.response()
    }

    /// The plan's indicators now, per district and for the province.
    func coverageAnswer(_ request: Request) async throws -> Response {
        let q = QueryParameters(request, now: clock.now())
        let indicator = q.string("indicator")
        let scope = q.string("scope")
        let now = clock.now()
        let all = CoverageCalculator.compute(catalogue, lastSeen: try await reader.sensorsLastSeen(), now: now,
                                             year: AlertStage.year(now, timeZone), targets: coverage.targets)
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
                }
            }
        }
        return j.response()
    }

    private func kindParameter(_ q: QueryParameters) throws -> SensorKind? {
        guard let k = q.string("kind") else { return nil }
        guard let v = SensorKind(rawValue: k) else {
            throw APIError.badParameter("kind", "must be forest, meter, traffic, environment or hydro")
        }
        return v
    }
}

import Alerts
import Testing
import Telemetry

@Suite struct CoverageCalculatorTests {
    let catalogue = Catalogue(
        zones: [Zone(id: "z1", kind: .forest, district: "muong-te", commune: "c1", areaHa: 100),
                Zone(id: "z2", kind: .forest, district: "muong-te", commune: "c2", areaHa: 300),
                Zone(id: "z3", kind: .forest, district: "sin-ho", commune: "c3", areaHa: 600)],
        sensors: [SensorEntry(id: "f1", kind: .forest, district: "muong-te", zone: "z1", intervalMillis: 600_000),
                  SensorEntry(id: "f2", kind: .forest, district: "muong-te", zone: "z2", intervalMillis: 600_000),
                  SensorEntry(id: "f3", kind: .forest, district: "sin-ho", zone: "z3", intervalMillis: 600_000),
                  SensorEntry(id: "f4", kind: .forest, district: "sin-ho", zone: "z3", intervalMillis: 600_000),
                  SensorEntry(id: "m1", kind: .meter, district: "sin-ho", zone: "tr1", intervalMillis: 900_000),
                  SensorEntry(id: "m2", kind: .meter, district: "sin-ho", zone: "tr1", intervalMillis: 900_000),
                  SensorEntry(id: "m3", kind: .meter, district: "muong-te", zone: "tr2", intervalMillis: 900_000)])
    let now: EpochMillis = 10_000_000_000

    func value(_ all: [CoverageIndicator], _ name: String, _ scope: String) -> CoverageIndicator? {
        all.first { $0.indicator == name && $0.scope == scope }
    }

    @Test func forestAreaWithSilentSensors() throws {
        // f1 healthy (10 min ago), f2 silent (31 min > 3 x 10 min), f3 never seen, f4 healthy.
        let seen: [String: EpochMillis] = ["f1": now - 600_000, "f2": now - 1_860_000, "f4": now - 1_000, "m1": now, "m3": now - 2_800_000]
        let all = CoverageCalculator.compute(catalogue, lastSeen: seen, now: now, year: 2026)
        let province = try #require(value(all, "forest_monitored_pct", "province"))
        #expect(province.numerator == 700 && province.denominator == 1000 && province.valuePct == 70)
        #expect(province.targetPct == 100 && province.targetYear == 2030)
        #expect(value(all, "forest_monitored_pct", "muong-te")?.valuePct == 25)
        #expect(value(all, "forest_monitored_pct", "sin-ho")?.valuePct == 100)
        let meters = try #require(value(all, "meters_reporting_pct", "province"))
        #expect(meters.numerator == 1 && meters.denominator == 3)
        #expect(value(all, "meters_reporting_pct", "muong-te")?.valuePct == 0)   // m3: 46.7 min > 45 min
        #expect(value(all, "junctions_monitored_pct", "province") == nil)        // no traffic sensors
        #expect(CoverageCalculator.compute(catalogue, lastSeen: seen, now: now, year: 2024).first?.targetYear == 2025)
        #expect(CoverageCalculator.compute(catalogue, lastSeen: seen, now: now, year: 2031).first?.targetYear == 2030)
    }
}

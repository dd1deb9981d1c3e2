import Alerts
import Testing
import Telemetry

@Suite struct CoverageCalculatorTests {
    let catalogue = Catalogue(
        zones: [Zone(id: "z1", kind: .forest, unit: "muong-te", commune: "c1", areaHa: 100),
                Zone(id: "z2", kind: .forest, unit: "muong-te", commune: "c2", areaHa: 300),
                Zone(id: "z3", kind: .forest, unit: "sin-ho", commune: "c3", areaHa: 600)],
        sensors: [SensorEntry(id: "f1", kind: .forest, unit: "muong-te", zone: "z1", intervalMillis: 600_000),
                  SensorEntry(id: "f2", kind: .forest, unit: "muong-te", zone: "z2", intervalMillis: 600_000),
                  SensorEntry(id: "f3", kind: .forest, unit: "sin-ho", zone: "z3", intervalMillis: 600_000),
                  SensorEntry(id: "f4", kind: .forest, unit: "sin-ho", zone: "z3", intervalMillis: 600_000),
                  SensorEntry(id: "m1", kind: .meter, unit: "sin-ho", zone: "tr1", intervalMillis: 900_000),
                  SensorEntry(id: "m2", kind: .meter, unit: "sin-ho", zone: "tr1", intervalMillis: 900_000),
                  SensorEntry(id: "m3", kind: .meter, unit: "muong-te", zone: "tr2", intervalMillis: 900_000)])
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
        #expect(meters.numerator == 1 && meters.denominator == 3 && meters.valuePct == 33.33)
        #expect(value(all, "meters_reporting_pct", "muong-te")?.valuePct == 0)   // m3: 46.7 min > 45 min
        #expect(value(all, "junctions_monitored_pct", "province") == nil)        // no traffic sensors
        #expect(CoverageCalculator.compute(catalogue, lastSeen: seen, now: now, year: 2024).first?.targetYear == 2025)
        #expect(CoverageCalculator.compute(catalogue, lastSeen: seen, now: now, year: 2031).first?.targetYear == 2030)
    }

    /// Areas summed from the catalogue read as they were written, not with float noise; a
    /// percentage to 0.01 %.
    @Test func areasAndPercentagesAreRoundedAsRead() throws {
        let zones = [0.1, 0.2, 99.7].enumerated().map { k, ha in
            Zone(id: "z\(k)", kind: .forest, unit: "d", commune: "c\(k)", areaHa: ha)
        }
        let sensors = zones.map { SensorEntry(id: "s-\($0.id)", kind: .forest, unit: "d", zone: $0.id, intervalMillis: 600_000) }
        let seen = Dictionary(uniqueKeysWithValues: sensors.dropLast().map { ($0.id, now) })
        let c = try #require(CoverageCalculator.compute(Catalogue(zones: zones, sensors: sensors), lastSeen: seen, now: now, year: 2026)
            .first { $0.scope == "province" })
        #expect(0.1 + 0.2 != 0.3)   // the noise this removes
        #expect(c.numerator == 0.3 && c.denominator == 100)
        #expect("\(c.numerator) \(c.denominator) \(c.valuePct)" == "0.3 100.0 0.3")
    }

    /// Water loss over each DMA's latest complete day, weighted by volume, against Decision
    /// 2147's ceiling: district a loses 100 of 1,000 m3 and 100 of 500 (13.33 %), one of its
    /// two DMAs at or under 15 %; district b's only DMA has no figure (an inflow-meter fault).
    @Test func waterLossAgainstTheCeiling() {
        let water = [CoverageCalculator.WaterDay(dma: "d1", unit: "a", inflowM3: 1000, nrwPct: 10),
                     CoverageCalculator.WaterDay(dma: "d2", unit: "a", inflowM3: 500, nrwPct: 20),
                     CoverageCalculator.WaterDay(dma: "d3", unit: "b", inflowM3: 400, nrwPct: nil)]
        let out = CoverageCalculator.compute(Catalogue(), lastSeen: [:], now: 0, year: 2026, water: water)
        let loss = out.filter { $0.indicator == "water_loss_pct" }
        #expect(loss.map(\.scope) == ["province", "a"])
        #expect(loss.first?.valuePct == 13.33 && loss.first?.numerator == 200 && loss.first?.denominator == 1500)
        #expect(loss.first?.targetPct == 15 && loss.first?.targetYear == 2025 && loss.first?.targetIsMaximum == true)
        let atTarget = out.filter { $0.indicator == "dma_at_target_pct" }
        #expect(atTarget.first?.valuePct == 50 && atTarget.first?.targetIsMaximum == false)
        // In 2019 the ceiling was 18 % (due 2020): d1 only still.
        let earlier = CoverageCalculator.compute(Catalogue(), lastSeen: [:], now: 0, year: 2019, water: water)
        #expect(earlier.first { $0.indicator == "water_loss_pct" }?.targetPct == 18)
        #expect(earlier.first { $0.indicator == "dma_at_target_pct" }?.valuePct == 50)
        #expect(CoverageCalculator.compute(Catalogue(), lastSeen: [:], now: 0, year: 2026).allSatisfy { !$0.indicator.contains("water") })
    }

    /// At a declared level, each unit counts towards its group: two communes of former Mường
    /// Tè (100 ha watched of 400) and one of Sìn Hồ (600 of 600); a commune in no group of the
    /// level counts for the province only; the province is the same at every level.
    @Test func atADeclaredLevelUnitsCountTowardsTheirGroup() throws {
        let units = [AdminUnit(id: "xa-a", type: .commune, groups: ["district": "muong-te"]),
                     AdminUnit(id: "xa-b", type: .commune, groups: ["district": "muong-te"]),
                     AdminUnit(id: "xa-c", type: .commune, groups: ["district": "sin-ho"]),
                     AdminUnit(id: "xa-d", type: .commune)]
        let zones = [Zone(id: "z1", kind: .forest, unit: "xa-a", areaHa: 100), Zone(id: "z2", kind: .forest, unit: "xa-b", areaHa: 300),
                     Zone(id: "z3", kind: .forest, unit: "xa-c", areaHa: 600), Zone(id: "z4", kind: .forest, unit: "xa-d", areaHa: 1000)]
        let sensors = zones.map { SensorEntry(id: "f-\($0.id)", kind: .forest, unit: $0.unit, zone: $0.id, intervalMillis: 600_000) }
        let c = Catalogue(zones: zones, sensors: sensors, units: units,
                          levels: [AdminLevel(id: "district", groups: [.init(id: "muong-te"), .init(id: "sin-ho")])])
        let seen: [String: EpochMillis] = ["f-z1": now, "f-z3": now, "f-z4": now]
        let byDistrict = CoverageCalculator.compute(c, lastSeen: seen, now: now, year: 2026, level: "district")
        #expect(byDistrict.map(\.scope) == ["province", "muong-te", "sin-ho"])
        #expect(value(byDistrict, "forest_monitored_pct", "muong-te")?.valuePct == 25)
        #expect(value(byDistrict, "forest_monitored_pct", "sin-ho")?.valuePct == 100)
        let byUnit = CoverageCalculator.compute(c, lastSeen: seen, now: now, year: 2026)
        #expect(byUnit.map(\.scope) == ["province", "xa-a", "xa-b", "xa-c", "xa-d"])
        #expect(value(byUnit, "forest_monitored_pct", "province") == value(byDistrict, "forest_monitored_pct", "province"))
        #expect(value(byUnit, "forest_monitored_pct", "province")?.valuePct == 85)
    }
}

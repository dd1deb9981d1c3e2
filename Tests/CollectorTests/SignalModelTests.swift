import Alerts
import Foundation
import Testing
@testable import Collector
import Telemetry

/// The simulator's values: reproducible under a seed, shaped by the scenario.
@Suite struct SignalModelTests {
    static let forest = SensorEntry(id: "ft-x-0001", kind: .forest, unit: "muong-te", zone: "z", intervalMillis: 600_000)
    static let t0: EpochMillis = 1_795_000_000_000

    func model(seed: UInt64, _ kind: Scenario.Kind = .normal) -> SignalModel {
        SignalModel(seed: seed, scenario: Scenario(kind: kind, start: Self.t0, end: Self.t0 + 7 * 86_400_000, target: nil), customers: [:])
    }

    @Test func sameSeedSameValuesOtherSeedOthers() {
        let times = (0..<500).map { Self.t0 + EpochMillis($0) * 600_000 }
        let a = times.map { model(seed: 3).value(Self.forest, "temp_c", at: $0) }
        let b = times.map { model(seed: 3).value(Self.forest, "temp_c", at: $0) }
        let c = times.map { model(seed: 4).value(Self.forest, "temp_c", at: $0) }
        #expect(a == b)
        #expect(a != c)
        #expect(model(seed: 3).value(Self.forest, "no_such_metric", at: Self.t0) == nil)
    }

    @Test func fireWeatherIsHotAndDryAtThirteenHours() throws {
        let m = model(seed: 1, .fireWeather)
        // 13:00 local (UTC+7) on some day of the window
        let noon = (Self.t0 / 86_400_000 + 2) * 86_400_000 + 6 * 3_600_000
        let t = try #require(m.value(Self.forest, "temp_c", at: noon))
        let rh = try #require(m.value(Self.forest, "rh_pct", at: noon))
        #expect(t > 37 && rh < 25)
        // about 2,000 of P a day: the level reaches IV on the third dry day
        #expect(FireDanger.contribution(t13: t, rh13: rh) > 1700)
        #expect((0..<144).allSatisfy { m.value(Self.forest, "rain_mm", at: Self.t0 + EpochMillis($0) * 600_000) == 0 })
        // another district is not touched
        var other = Self.forest
        other.unit = "sin-ho"
        #expect((m.value(other, "temp_c", at: noon) ?? 99) < 35)
    }

    @Test func energyTheftFeederAgainstCustomers() throws {
        let feeder = { var e = SensorEntry(id: "mt-f", kind: .meter, unit: "d", zone: "tr", intervalMillis: 900_000); e.role = .feeder; return e }()
        let customers = (1...3).map { i in { var e = SensorEntry(id: "mt-c\(i)", kind: .meter, unit: "d", zone: "tr", intervalMillis: 900_000); e.role = .customer; return e }() }
        let sc = Scenario(kind: .energyTheft, start: Self.t0, end: Self.t0 + 86_400_000, target: "tr")
        let m = SignalModel(seed: 5, scenario: sc, customers: ["tr": customers])
        let t = Self.t0 + 3_600_000
        let delivered = try customers.reduce(0.0) { $0 + (try #require(m.value($1, "kwh", at: t))) }
        let fed = try #require(m.value(feeder, "kwh", at: t))
        #expect(abs((fed - delivered) / fed * 100 - 15) < 0.1)
    }
}

import Alerts
import Foundation
import Logging
import Testing
import Telemetry
@testable import Collector

/// A rule whose severity follows the value's band, end to end through the alert stage: the
/// stored alert keeps its row, a rise clears its acknowledgement (a fall keeps it), and the
/// retained MQTT message moves to the topic of the new severity.
@Suite struct AlertSeverityTests {
    final class NoHistory: SampleHistory {
        func recent(_ id: SeriesID) -> [Sample] { [] }
        func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] { [] }
        func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] { [] }
        func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? { nil }
    }

    /// A store of alerts in a new SQLite file, for `body`.
    static func inAFile(_ body: (any AlertRecords) async throws -> Void) async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await body(AlertStore(pool: try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations)))
    }

    @Test func aLevelThatRisesIsAnnouncedAgainAndNeedsANewAcknowledgement() async throws {
        try await Self.inAFile(Self.aLevelThatRises)
    }

    static func aLevelThatRises(_ store: any AlertRecords) async throws {
        let rule = Rule(name: "flood-risk", severity: .info,
                        severityByValue: [SeverityBand(atLeast: 2, severity: .warning), SeverityBand(atLeast: 3, severity: .critical)],
                        match: RuleMatch(metric: "flood_risk_level"), when: .atLeast(1), clear: .below(1))
        let stage = AlertStage(engine: AlertEngine(rules: [rule], catalogue: Catalogue(), now: 0), store: store,
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc,
                               logger: Logger(label: "test"))
        var published: [(topic: String, retained: Bool, empty: Bool, text: String)] = []
        stage.publish = { topic, payload, retain in published.append((topic, retain, payload.isEmpty, String(decoding: payload, as: UTF8.self))) }
        let name = try SeriesName(parsing: "hy-1/flood_risk_level")
        func feed(_ level: Double, _ t: EpochMillis) {
            stage.committed([BoundReading(series: SeriesID(0), time: t, value: level)], names: [name], history: NoHistory(), now: t)
        }
        func stored() async throws -> Alert { try #require(try await store.list(states: ["firing"], limit: 10).first) }

        feed(1, 1000)
        #expect(published.map(\.topic) == ["alerts/info/flood-risk/hy-1"])
        let first = try await stored()
        #expect(first.severity == .info)
        _ = try await store.acknowledge(id: try #require(first.id), by: "duty", note: "watching", at: 1500)

        published = []
        feed(2, 2000)   // up a band: announced again, the acknowledgement is gone
        #expect(published.map(\.topic) == ["alerts/info/flood-risk/hy-1", "alerts/warning/flood-risk/hy-1"])
        #expect(published.first?.empty == true && published.first?.retained == true)
        let second = try await stored()
        #expect(second.id == first.id && second.severity == .warning && second.acknowledgedBy == nil && second.value == 2)
        #expect(published.last?.text.contains(#""acknowledged":false"#) == true)   // announced as it is stored
        _ = try await store.acknowledge(id: try #require(second.id), by: "duty", note: nil, at: 2500)

        published = []
        feed(1, 3000)   // down a band: announced, still acknowledged
        let third = try await stored()
        #expect(third.severity == .info && third.acknowledgedBy == "duty" && third.id == first.id)
        #expect(published.last.map { $0.topic == "alerts/info/flood-risk/hy-1" && $0.text.contains(#""acknowledged":true,"acknowledged_by":"duty""#) } == true)
        #expect(try await store.list(states: ["pending", "firing", "resolved"], limit: 10).count == 1)

        feed(0, 4000)
        #expect(try await store.list(states: ["resolved"], limit: 10).first?.severity == .info)
        #expect(published.last.map { $0.topic == "alerts/info/flood-risk/hy-1" && $0.empty } == true)
    }

    /// A pending alert that never fires goes out as `cancelled` with its own id, not the id of
    /// an older alert of the same rule and subject.
    @Test func aCancelledAlertKeepsItsOwnID() async throws {
        try await Self.inAFile(Self.aCancelledAlert)
    }

    static func aCancelledAlert(_ store: any AlertRecords) async throws {
        let rule = Rule(name: "slow", severity: .warning, match: RuleMatch(metric: "x"), when: .above(1), forMillis: 60_000)
        let engine = AlertEngine(rules: [rule], catalogue: Catalogue(), now: 0)
        let name = try SeriesName(parsing: "s-1/x")
        func feed(_ v: Double, _ t: EpochMillis) throws -> [AlertEvent] {
            try store.apply(engine.observe(series: name, sample: Sample(time: t, value: v), now: t) { [] }, now: t)
        }
        _ = try feed(2, 0)
        #expect(try feed(2, 70_000).map(\.action) == [.fire])
        let resolved = try feed(0, 80_000)
        let pending = try feed(2, 100_000)
        let cancelled = try feed(0, 110_000)
        #expect(cancelled.map(\.action) == [.cancel] && cancelled.first?.alert.state == "cancelled")
        #expect(cancelled.first?.alert.id == pending.first?.alert.id && cancelled.first?.alert.id != resolved.first?.alert.id)
        #expect(try await store.list(states: ["pending", "firing", "resolved"], limit: 10).count == 1)
    }

    /// While an alert is pending its severity is stored as it moves, and a rise clears an
    /// acknowledgement given meanwhile; nothing is published before it fires.
    @Test func aPendingAlertTakesItsNewSeverity() async throws {
        try await Self.inAFile(Self.aPendingAlert)
    }

    static func aPendingAlert(_ store: any AlertRecords) async throws {
        let rule = Rule(name: "flood-risk", severity: .info, severityByValue: [SeverityBand(atLeast: 3, severity: .critical)],
                        match: RuleMatch(metric: "flood_risk_level"), when: .atLeast(1), forMillis: 60_000)
        let stage = AlertStage(engine: AlertEngine(rules: [rule], catalogue: Catalogue(), now: 0), store: store,
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc,
                               logger: Logger(label: "test"))
        var published: [String] = []
        stage.publish = { topic, _, _ in published.append(topic) }
        let name = try SeriesName(parsing: "hy-1/flood_risk_level")
        func feed(_ level: Double, _ t: EpochMillis) {
            stage.committed([BoundReading(series: SeriesID(0), time: t, value: level)], names: [name], history: NoHistory(), now: t)
        }
        feed(1, 1000)
        let pending = try #require(try await store.list(states: ["pending"], limit: 10).first)
        #expect(pending.severity == .info)
        _ = try await store.acknowledge(id: try #require(pending.id), by: "duty", note: nil, at: 2000)
        feed(3, 3000)
        let risen = try #require(try await store.list(states: ["pending"], limit: 10).first)
        #expect(risen.severity == .critical && risen.acknowledgedBy == nil && risen.id == pending.id)
        #expect(published.isEmpty)
    }
}

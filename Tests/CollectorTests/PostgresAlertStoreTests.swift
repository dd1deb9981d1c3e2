import Alerts
import Foundation
import Logging
import Synchronization
import Testing
import Telemetry
@testable import Collector

/// Alerts in the shared PostgreSQL store (`PostgresAlertStore`) against a real primary with a
/// synchronous replica: they behave as in the collector's file; every collector lists them
/// and acknowledges them; each change is announced to the others at its commit; a takeover
/// adopts the partition's live alerts; changes the store refused while it was down are
/// stored, in order, once it answers.
@Suite(.serialized) struct PostgresAlertStoreTests {
    static func store(_ pg: PostgresCluster, owner: String, origin: String) throws -> PostgresAlertStore {
        PostgresAlertStore(store: try PostgresStore(url: pg.url, timeZone: .utc), owner: owner, origin: origin)
    }

    /// The file's alert scenarios (a severity that rises and falls, a cancelled pending
    /// alert, a pending alert whose severity moves), on the shared store: the same answers.
    @Test(.timeLimit(.minutes(2))) func theSharedStoreKeepsAlertsAsTheFileDoes() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let store = try Self.store(pg, owner: "north", origin: "a")
        for scenario in [AlertSeverityTests.aLevelThatRises, AlertSeverityTests.aCancelledAlert, AlertSeverityTests.aPendingAlert] {
            try await scenario(store)
            _ = try pg.psql(pg.primaryPort.port, "TRUNCATE alerts")
        }
    }

    /// Two collectors (partitions north and south) on one store: each lists the other's
    /// alerts and may acknowledge them; an engine restores only its own partition's; every
    /// change reaches a listener once committed, named by who made it.
    @Test(.timeLimit(.minutes(2))) func everyCollectorSeesEveryAlertAndItsAcknowledgement() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let north = try Self.store(pg, owner: "north", origin: "a")
        let south = try Self.store(pg, owner: "south", origin: "b")
        let listener = try PostgresConnection(pg.url)
        try listener.execute("LISTEN \(PostgresAlertStore.channel)")

        let hot = Alert(rule: "forest-hot", subject: "ft-1", severity: .critical, state: "firing", since: 1000, value: 36.5,
                        valueTime: 1000, summary: "36.5 C")
        let fired = try north.apply([AlertEvent(action: .fire, alert: hot)], now: 1000)
        let id = try #require(fired.first?.alert.id)
        #expect(try north.live().map(\.id) == [id])
        #expect(try south.live().isEmpty)
        #expect(try await south.list(states: ["firing"], limit: 10).map(\.value) == [36.5])

        // Acknowledged through the other collector (a note with a NUL, which PostgreSQL text cannot hold).
        let acked = try #require(try await south.acknowledge(id: id, by: "duty", note: "crew\u{0}sent", at: 2000))
        #expect(acked.acknowledgedBy == "duty" && acked.note == "crew\u{FFFD}sent")
        #expect(try await south.acknowledge(ids: [id], by: "again", note: nil, at: 2500).isEmpty)   // (already acknowledged)
        // The owner's next change of it carries the acknowledgement, as stored.
        var cooler = hot
        cooler.value = 35.5
        let changed = try north.apply([AlertEvent(action: .fire, alert: cooler)], now: 3000)
        #expect(changed.first?.alert.id == id && changed.first?.alert.acknowledgedBy == "duty")

        var heard: [String] = []
        try await waitUntil("three announcements", seconds: 10) {
            heard += try listener.notifications(timeoutMillis: 100).filter { $0.channel == PostgresAlertStore.channel }.map(\.payload)
            return heard.count >= 3
        }
        #expect(heard == ["a \(id) 1", "b \(id) 1", "a \(id) 2"])   // (each store numbers what it sends)
        let parsed = try #require(PostgresAlertStore.parse(heard[1]))
        #expect(parsed.origin == "b" && parsed.id == id)
    }

    /// A standby that takes a partition over adopts its live alerts from the store: it does
    /// not announce again an alert the old holder announced, and resolves it when it clears
    /// (without them, it would know nothing to resolve).
    @Test(.timeLimit(.minutes(2))) func aTakeoverAdoptsThePartitionsLiveAlerts() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let rule = Rule(name: "forest-hot", severity: .critical, match: RuleMatch(metric: "temp_c"), when: .above(35), clear: .below(30))
        func stage(_ origin: String) throws -> (AlertStage, PostgresAlertStore) {
            let store = try Self.store(pg, owner: "north", origin: origin)
            let s = AlertStage(engine: AlertEngine(rules: [rule], catalogue: Catalogue(), restored: try store.live(), now: 0), store: store,
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc, logger: Logger(label: "test"))
            s.sharedAlerts = true
            return (s, store)
        }
        let name = try SeriesName(parsing: "ft-1/temp_c")
        func feed(_ s: AlertStage, _ v: Double, _ t: EpochMillis) {
            s.committed([BoundReading(series: SeriesID(0), time: t, value: v)], names: [name], history: AlertSeverityTests.NoHistory(), now: t)
        }
        let (a, store) = try stage("a")
        a.resumed(now: 0)              // a holds the partition
        let (b, _) = try stage("b")   // a standby: made before a's alert fired
        var announced: [String] = []
        b.publish = { topic, payload, _ in if !payload.isEmpty { announced.append(topic) } }
        feed(b, 38, 900)      // (a standby's engine judges nothing)
        feed(a, 36, 1000)
        #expect(try store.live().count == 1 && announced.isEmpty)

        b.resumed(now: 2000)   // b takes the partition over
        feed(b, 37, 2000)      // (the old holder's reading again, as a catch-up feeds it)
        #expect(announced.isEmpty, "the adopted alert was announced again")
        feed(b, 25, 3000)
        #expect(announced == ["alerts/critical/forest-hot/ft-1"])   // its resolution
        let all = try await store.list(states: ["pending", "firing", "resolved"], limit: 10)
        #expect(all.count == 1 && all.first?.state == "resolved")
    }

    /// Changes decided while the store did not answer are announced at once and stored, in
    /// order, once it answers again; a collector taking the partition over meanwhile adopts
    /// its live alerts once the store answers.
    @Test(.timeLimit(.minutes(3))) func changesTheStoreRefusedAreStoredOnceItAnswers() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let rule = Rule(name: "forest-hot", severity: .critical, match: RuleMatch(metric: "temp_c"), when: .above(35), clear: .below(30))
        let store = try Self.store(pg, owner: "north", origin: "a")
        let stage = AlertStage(engine: AlertEngine(rules: [rule], catalogue: Catalogue(), now: 0), store: store,
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc, logger: Logger(label: "test"))
        var announced: [String] = []
        stage.publish = { topic, payload, _ in if !payload.isEmpty { announced.append(topic) } }
        let names = try ["ft-1/temp_c", "ft-2/temp_c"].map { try SeriesName(parsing: $0) }
        func feed(_ k: Int, _ v: Double, _ t: EpochMillis) {
            stage.committed([BoundReading(series: SeriesID(Int32(k)), time: t, value: v)], names: names, history: AlertSeverityTests.NoHistory(), now: t)
        }
        // (Another member, taking the partition over while the store is down.)
        let other = AlertStage(engine: AlertEngine(rules: [rule], catalogue: Catalogue(), now: 0), store: try Self.store(pg, owner: "north", origin: "b"),
                               catalogue: Catalogue(), coverage: .init(), derived: .init(), timeZone: .utc, logger: Logger(label: "test"))
        other.sharedAlerts = true
        var otherAnnounced: [String] = []
        other.publish = { topic, payload, _ in if !payload.isEmpty { otherAnnounced.append(topic) } }
        pg.stop()
        other.resumed(now: 500)   // (cannot adopt yet: its rules judge nothing meanwhile)
        other.committed([BoundReading(series: SeriesID(1), time: 600, value: 39)], names: names, history: AlertSeverityTests.NoHistory(), now: 600)
        feed(0, 36, 1000)   // fires ft-1
        feed(1, 36, 2000)   // fires ft-2
        feed(0, 25, 3000)   // resolves ft-1
        #expect(announced.count == 3)
        _ = stage.tick(now: 4000, history: AlertSeverityTests.NoHistory())   // (still down: kept)
        try pg.restart()
        try await pg.waitSynchronous()
        _ = stage.tick(now: 6000, history: AlertSeverityTests.NoHistory())
        let all = try await store.list(states: ["pending", "firing", "resolved"], limit: 10)
        #expect(all.map(\.subject) == ["ft-2", "ft-1"] && all.map(\.state) == ["firing", "resolved"])
        #expect(announced.count == 3)   // (stored, not announced again)
        // The other member adopts ft-2 at its next tick, and resolves it when it clears.
        _ = other.tick(now: 7000, history: AlertSeverityTests.NoHistory())
        other.committed([BoundReading(series: SeriesID(1), time: 8000, value: 25)], names: names, history: AlertSeverityTests.NoHistory(), now: 8000)
        #expect(otherAnnounced == ["alerts/critical/forest-hot/ft-2"])
        #expect(try await store.list(states: ["firing"], limit: 10).isEmpty)
    }
    /// A store of schema version 2 (before alerts), or 3 (before `moved_from`), is refused by a
    /// reader and brought to version 4 by the first collector that opens it to write.
    @Test(.timeLimit(.minutes(2))) func olderStoresGainTheAlertsTableAndItsMoves() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        _ = try PostgresStore(url: pg.url, timeZone: .utc)
        for older in [
            "DROP TABLE alerts; UPDATE store_meta SET value = '2' WHERE key = 'version'",
            "DROP INDEX alerts_moved; ALTER TABLE alerts DROP COLUMN moved_from; UPDATE store_meta SET value = '3' WHERE key = 'version'",
        ] {
            _ = try pg.psql(pg.primaryPort.port, older)
            #expect(throws: PostgresStore.Refused.self) { try PostgresStore(url: pg.url, timeZone: .utc, readOnly: true) }
            let store = try Self.store(pg, owner: "north", origin: "a")
            #expect(try store.live().isEmpty)
            #expect(try pg.psql(pg.primaryPort.port, "SELECT value FROM store_meta WHERE key = 'version'") == "4")
            #expect(try pg.psql(pg.primaryPort.port, "SELECT count(*) FROM pg_indexes WHERE indexname = 'alerts_moved'") == "1")
        }
    }
    /// An alert that fires and resolves at once (one batch of changes) reaches the other
    /// collectors' live streams as it was announced: firing, then resolved (read back by id,
    /// both would say resolved).
    @Test(.timeLimit(.minutes(2))) func theFeedRelaysEachChangeAsItWasAnnounced() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let relayed = RelayedStream(pg)
        defer { relayed.stop() }
        let other = PostgresAlertStore(store: try PostgresStore(url: pg.url, timeZone: .utc), owner: "south", origin: "there",
                                       announce: { String(decoding: AlertJSON.encode($0).bytes, as: UTF8.self) })
        func alert(_ subject: String, _ state: String) -> Alert {
            Alert(rule: "forest-hot", subject: subject, severity: .critical, state: state, since: 1000, summary: "hot \(state)")
        }
        try await waitUntil("the feed relaying", seconds: 20) {
            _ = try other.apply([AlertEvent(action: .fire, alert: alert("ft-\(UUID().uuidString.prefix(6))", "firing"))], now: 1000)
            return !relayed.lines.isEmpty
        }
        relayed.clear()
        _ = try other.apply([AlertEvent(action: .fire, alert: alert("ft-quick", "firing")),
                             AlertEvent(action: .resolve, alert: alert("ft-quick", "resolved"))], now: 2000)
        try await waitUntil("both changes relayed", seconds: 10) { relayed.lines.filter { $0.contains("ft-quick") }.count == 2 }
        let quick = relayed.lines.filter { $0.contains("ft-quick") }
        #expect(quick[0].contains(#""state":"firing""#) && quick[0].contains("hot firing"), "\(quick[0])")
        #expect(quick[1].contains(#""state":"resolved""#), "\(quick[1])")
    }

    /// Retention (`storage.alert_retention`) deletes resolved and cancelled alerts last changed
    /// before its horizon, in the file and in the shared store; live ones stay, however old.
    @Test(.timeLimit(.minutes(2))) func retentionDeletesOldResolvedAlertsOnly() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let file = AlertStore(pool: try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations))
        let shared = try Self.store(pg, owner: "north", origin: "a")
        func alert(_ subject: String, _ state: String, _ since: EpochMillis) -> Alert {
            Alert(rule: "forest-hot", subject: subject, severity: .critical, state: state, since: since, summary: "hot")
        }
        for store in [file, shared] as [any AlertRecords] {
            _ = try store.apply([AlertEvent(action: .fire, alert: alert("old", "firing", 1000)),
                                 AlertEvent(action: .fire, alert: alert("live", "firing", 1000)),
                                 AlertEvent(action: .fire, alert: alert("recent", "firing", 1000))], now: 1000)
            _ = try store.apply([AlertEvent(action: .resolve, alert: alert("old", "resolved", 2000))], now: 2000)
            _ = try store.apply([AlertEvent(action: .resolve, alert: alert("recent", "resolved", 5000))], now: 5000)
        }
        #expect(try file.pruneResolved(before: 3000) == 1)
        #expect(try PostgresAlertStore.pruneResolved(try PostgresStore(url: pg.url, timeZone: .utc), before: 3000) == 1)
        for store in [file, shared] as [any AlertRecords] {
            let left = try await store.list(states: ["firing", "resolved"], limit: 10).map(\.subject).sorted()
            #expect(left == ["live", "recent"], "\(type(of: store))")
        }
    }

    /// Alert changes are written under the lease's fencing token (`AlertFence`): a holder
    /// fenced out (paused past its lease while another took the partition over and wrote)
    /// stores nothing over the new holder's alerts, nor does a collector without the lease; a
    /// province-wide scope's alert goes under the province lease's token.
    @Test(.timeLimit(.minutes(2))) func aFencedOutHolderStoresNoAlertChange() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        func store(_ origin: String) throws -> PostgresAlertStore {
            PostgresAlertStore(store: try PostgresStore(url: pg.url, timeZone: .utc), owner: "north", origin: origin, provinceWide: true)
        }
        let old = try store("old"), new = try store("new")
        func fence(_ token: UInt64?, province: UInt64? = nil) -> AlertFence {
            AlertFence(partition: token.map { PostgresStore.Fence(partition: "north", token: $0) },
                       province: province.map { PostgresStore.Fence(partition: PostgresAlertStore.provinceOwner, token: $0) })
        }
        let hot = Alert(rule: "forest-hot", subject: "ft-1", severity: .critical, state: "firing", since: 1000, summary: "hot")
        var cleared = hot
        cleared.state = "resolved"
        cleared.since = 2000
        // The old holder (token 1) raised it; the new one (token 2) has written since.
        _ = try old.apply([AlertEvent(action: .fire, alert: hot)], now: 1000, fence: fence(1))
        _ = try new.apply([AlertEvent(action: .fire, alert: hot)], now: 1500, fence: fence(2))
        #expect(throws: PartitionFence.Stale.self) {
            try old.apply([AlertEvent(action: .resolve, alert: cleared)], now: 2000, fence: fence(1))
        }
        #expect(try new.live().map(\.state) == ["firing"])
        // Without the lease: nothing written.
        let other = Alert(rule: "forest-hot", subject: "ft-2", severity: .critical, state: "firing", since: 2100, summary: "hot")
        #expect(throws: AlertFence.NotHolder.self) { try old.apply([AlertEvent(action: .fire, alert: other)], now: 2100, fence: fence(nil)) }
        #expect(try await new.list(states: ["firing", "resolved"], limit: 10).map(\.subject) == ["ft-1"])
        // A zone's alert needs the province lease, whoever holds the partition.
        let zone = Alert(rule: "zone-fire", subject: "zone.z1", severity: .warning, state: "firing", since: 2200, summary: "z1")
        #expect(throws: AlertFence.NotHolder.self) { try new.apply([AlertEvent(action: .fire, alert: zone)], now: 2200, fence: fence(2)) }
        _ = try new.apply([AlertEvent(action: .fire, alert: zone)], now: 2200, fence: fence(nil, province: 5))
        #expect(try new.provinceLive().map(\.subject) == ["zone.z1"])
        // The holder's own change goes through.
        _ = try new.apply([AlertEvent(action: .resolve, alert: cleared)], now: 2300, fence: fence(2))
        #expect(try new.live().isEmpty)
    }

    /// A DMA's alert that its partition raised, before DMAs became province-wide scopes, is
    /// the province lease's holder's to adopt (`provinceLive`), not the partition's (`live`),
    /// whoever owns its row, and the holder resolves it.
    @Test(.timeLimit(.minutes(2))) func aDMAsAlertRaisedByItsPartitionIsTheProvinces() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let before = PostgresAlertStore(store: try PostgresStore(url: pg.url, timeZone: .utc), owner: "north", origin: "old")
        let store = PostgresAlertStore(store: try PostgresStore(url: pg.url, timeZone: .utc), owner: "north", origin: "new", provinceWide: true)
        let loss = Alert(rule: "water-loss-above-target", subject: "dma.d1", severity: .warning, state: "firing", since: 1000, summary: "30 %")
        let hot = Alert(rule: "forest-hot", subject: "ft-1", severity: .critical, state: "firing", since: 1000, summary: "hot")
        _ = try before.apply([AlertEvent(action: .fire, alert: loss), AlertEvent(action: .fire, alert: hot)], now: 1000)
        #expect(try store.live().map(\.subject) == ["ft-1"])
        #expect(try store.provinceLive().map(\.subject) == ["dma.d1"])
        var cleared = loss
        cleared.state = "resolved"
        cleared.since = 2000
        _ = try store.apply([AlertEvent(action: .resolve, alert: cleared)], now: 2000)
        #expect(try store.provinceLive().isEmpty)
        #expect(try await store.list(states: ["resolved"], limit: 10).map(\.subject) == ["dma.d1"])
    }

    /// A collector that ran on its file moves the file's live alerts to the shared store at its
    /// first start there (acknowledgements included); a rule and subject live there already
    /// keeps the store's row.
    @Test(.timeLimit(.minutes(2))) func theFilesLiveAlertsMoveToTheSharedStore() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let file = AlertStore(pool: try TelemetryDatabase.open(path: dir + "/c.sqlite", extraMigrations: AlertStore.registerMigrations))
        let hot = Alert(rule: "forest-hot", subject: "ft-1", severity: .critical, state: "firing", since: 1000, value: 36, summary: "hot")
        var other = hot
        other.subject = "ft-2"
        let ids = try file.apply([AlertEvent(action: .fire, alert: hot), AlertEvent(action: .fire, alert: other)], now: 1000).compactMap(\.alert.id)
        _ = try await file.acknowledge(id: ids[0], by: "duty", note: "seen", at: 1500)
        let shared = try Self.store(pg, owner: "north", origin: "a")
        _ = try shared.apply([AlertEvent(action: .fire, alert: other)], now: 1200)   // (ft-2 is live there already)
        let listener = try PostgresStore(url: pg.url, timeZone: .utc)
        _ = try listener.query { c in try c.execute("LISTEN \(PostgresAlertStore.channel)") }
        let fileLive = try file.live()
        #expect(try shared.takeOver(fileLive, source: "it-north-a", now: 2000) == 1)
        // The other collectors hear of it, as of any change.
        let notes = try listener.query { c in try c.notifications(timeoutMillis: 5000) }
        let ft1 = try shared.live().first { $0.subject == "ft-1" }?.id
        #expect(notes.compactMap { PostgresAlertStore.parse($0.payload) }.map(\.id) == [ft1].compactMap { $0 })
        // A crash before the file forgot them: the move again takes nothing, even once the
        // alert it moved has been resolved in the shared store.
        var resolved = hot
        resolved.state = "resolved"
        resolved.since = 2500
        _ = try shared.apply([AlertEvent(action: .resolve, alert: resolved)], now: 2500)
        #expect(try shared.takeOver(fileLive, source: "it-north-a", now: 2600) == 0)
        #expect(try shared.live().map(\.subject) == ["ft-2"])
        // (Another collector's file is another source.)
        #expect(try shared.takeOver(fileLive, source: "it-north-b", now: 2700) == 1)
        try file.forgetLive()
        let live = try shared.live().sorted { $0.subject < $1.subject }
        #expect(live.map(\.subject) == ["ft-1", "ft-2"] && live.first?.acknowledgedBy == "duty" && live.first?.value == 36)
        #expect(try file.live().isEmpty)
        #expect(try shared.takeOver(live, source: "it-north-a", now: 3000) == 0)
    }
    /// The live feed (`AlertFeed`) passes another collector's alert changes to this one's
    /// stream, not its own; after the store was lost and is back, its clients are told of a
    /// gap (they reload the list), and changes flow again.
    @Test(.timeLimit(.minutes(2))) func theFeedRelaysOtherCollectorsChangesAndTellsOfAGap() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let relayed = RelayedStream(pg)
        defer { relayed.stop() }
        let other = try Self.store(pg, owner: "south", origin: "there")
        let mine = try Self.store(pg, owner: "north", origin: "here")
        func fire(_ store: PostgresAlertStore, _ subject: String) throws {
            _ = try store.apply([AlertEvent(action: .fire, alert: Alert(rule: "forest-hot", subject: subject, severity: .critical,
                                                                        state: "firing", since: 1000, summary: "hot"))], now: 1000)
        }
        // (The feed listens once its connection is up: until then a change is not heard.)
        try await waitUntil("the feed relaying", seconds: 20) {
            try fire(other, "ft-\(UUID().uuidString.prefix(6))")
            return !relayed.lines.isEmpty
        }
        relayed.clear()
        try fire(mine, "ft-mine")
        try fire(other, "ft-other")
        try await waitUntil("the other collector's change", seconds: 10) { relayed.lines.contains { $0.contains("ft-other") } }
        #expect(!relayed.lines.contains { $0.contains("ft-mine") }, "its own change was relayed")
        pg.stop()
        try pg.restart()
        try await pg.waitSynchronous()
        let other2 = try Self.store(pg, owner: "south", origin: "there")
        try await waitUntil("a gap, then changes again", seconds: 40) {
            try? fire(other2, "ft-\(UUID().uuidString.prefix(6))")
            let r = relayed.lines
            return r.firstIndex(of: "gap").map { g in r[g...].contains { $0.contains("forest-hot") } } ?? false
        }
    }
}

/// The live stream of a collector ("here") on the shared store, through its `AlertFeed`: what
/// it relays, each alert's JSON, and `gap` for a gap.
final class RelayedStream: @unchecked Sendable {
    private let received = Mutex<[String]>([])
    private let feed: AlertFeed
    private var reader: Task<Void, Never>?

    init(_ pg: PostgresCluster) {
        let broadcaster = AlertBroadcaster()
        feed = AlertFeed(url: pg.url, timeZone: .utc, origin: "here", broadcaster: broadcaster, logger: Logger(label: "test"))
        let (events, _, _) = broadcaster.subscribe()
        reader = Task { [self] in
            for await item in events {
                switch item {
                case .alert(_, let json): received.withLock { $0.append(json) }
                case .gap: received.withLock { $0.append("gap") }
                case .keepAlive: break
                }
            }
        }
        feed.start()
    }

    var lines: [String] { received.withLock { $0 } }
    func clear() { received.withLock { $0.removeAll() } }
    func stop() {
        reader?.cancel()
        feed.stop()
    }
}

import Testing
@testable import Collector

@Suite struct ConfigLoaderTests {
    @Test func defaultsWithoutAFile() throws {
        let c = try ConfigLoader.load(path: nil)
        #expect(c.mqtt.url.description == "mqtt://127.0.0.1:1883")
        #expect(c.mqtt.qos == 1 && !c.mqtt.cleanSession && c.mqtt.protocolVersion == .v5)
        #expect(c.storage.acceptAgeMillis == 30 * 86_400_000)
        #expect(c.http.port == 8080)
    }

    @Test func fullFile() throws {
        let c = try ConfigLoader.parse("""
            mqtt:
              url: mqtts://broker.example:8884
              client_id: lc-ops
              protocol: "3.1.1"
              subscriptions:
                - {topic: "$share/g/telemetry/#", format: json, qos: 0}
            http: {listen: "[::1]:9090"}
            storage: {path: /var/lib/c.sqlite, raw_retention: 14d, accept_age: 1h30m, durability: full}
            timezone: UTC
            limits: {max_series: 10}
            language: vi
            """, file: "c.yaml")
        #expect(c.mqtt.url == .init(tls: true, host: "broker.example", port: 8884))
        #expect(c.mqtt.protocolVersion == .v311)
        #expect(c.mqtt.subscriptions == [.init(topic: "$share/g/telemetry/#", format: .json, qos: 0)])
        #expect(c.http.host == "::1" && c.http.port == 9090)
        #expect(c.storage.acceptAgeMillis == 5_400_000 && c.storage.rawRetentionMillis == 14 * 86_400_000)
        #expect(c.limits.maxSeries == 10)
        #expect(c.language == .vi && CollectorConfig().language == .en)
    }

    @Test func everyProblemWithItsLine() {
        let yaml = """
            mqtt:
              url: http://nope
              qos: 3
              subscriptons: []
            storage:
              accept_age: ten days
            timezone: Mars/Olympus
            colour: blue
            language: fr
            """
        #expect {
            _ = try ConfigLoader.parse(yaml, file: "bad.yaml")
        } throws: { error in
            let lines = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            return lines == [
                "bad.yaml:2: url 'http://nope' is not mqtt://host[:port] or mqtts://host[:port]",
                "bad.yaml:3: 'qos' must be between 0 and 2, not 3",
                "bad.yaml:4: unknown key 'subscriptons' in mqtt",
                "bad.yaml:6: 'accept_age': bad duration 'ten days' (use e.g. 500ms, 30s, 10m, 1h, 7d)",
                "bad.yaml:7: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Ho_Chi_Minh)",
                "bad.yaml:9: language must be en or vi (the language of alert summaries in notifications and the API)",
                "bad.yaml:8: unknown key 'colour' in the configuration",   // unknown keys: once the rest is read
            ]
        }
    }

    /// `urls`: the nodes of one broker cluster, in order; each problem at its line.
    @Test func brokerClusterURLs() throws {
        let c = try ConfigLoader.parse("""
            mqtt:
              urls: [mqtt://127.0.0.1:4001, "mqtt://[::1]:4002", mqtt://n3.example]
              protocol: "3.1.1"
            """, file: "c.yaml")
        #expect(c.mqtt.brokers.map(\.description) == ["mqtt://127.0.0.1:4001", "mqtt://::1:4002", "mqtt://n3.example:1883"])
        #expect(c.mqtt.url == c.mqtt.brokers[0])
        #expect(CollectorConfig().mqtt.brokers.count == 1)
        #expect {
            _ = try ConfigLoader.parse("""
                mqtt:
                  url: mqtt://a
                  urls:
                    - mqtt://b
                    - mqtts://c
                    - mqtt://b:1883
                    - [nested]
                """, file: "bad.yaml")
        } throws: { error in
            let lines = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            return lines == [
                "bad.yaml:4: give either url (one broker) or urls (the nodes of one cluster), not both",
                "bad.yaml:7: every entry of urls must be a text value",
                "bad.yaml:6: broker mqtt://b:1883 is listed twice",
                "bad.yaml:4: the brokers of one cluster must all be mqtt:// or all mqtts://",
            ]
        }
    }

    /// `partition`: the lease's name, member, NATS servers, bucket, length and catch-up window.
    @Test func partitionSection() throws {
        let c = try ConfigLoader.parse("""
            partition: {name: north, member: collector-a, nats: [nats://127.0.0.1:4222], lease: 6s, catch_up: 2h}
            """, file: "c.yaml")
        #expect(c.partition == .init(name: "north", member: "collector-a", servers: ["nats://127.0.0.1:4222"],
                                     bucket: "collector_lease_north", leaseMillis: 6_000, catchUpMillis: 7_200_000))
        #expect(CollectorConfig().partition == nil)
        #expect {
            _ = try ConfigLoader.parse("""
                mqtt: {clean_session: true}
                partition:
                  name: north.west
                  nats: [http://x]
                  bucket: "a b"
                  lease: 500ms
                  owner: me
                  catch_up: 31d
                """, file: "bad.yaml")
        } throws: { error in
            let lines = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            return lines == [
                "bad.yaml:3: partition name 'north.west' may hold only letters, digits, '-' and '_'",
                "bad.yaml:4: every entry of nats must be nats://host:port",
                "bad.yaml:4: nats needs at least one nats://host:port",
                "bad.yaml:5: bucket 'a b' may hold only letters, digits, '-' and '_'",
                "bad.yaml:6: lease must be between 1s and 5m",
                "bad.yaml:8: catch_up must be between 0s and 30d",
                "bad.yaml:7: unknown key 'owner' in partition",
                "bad.yaml:3: a partition needs mqtt.clean_session: false (its session passes from holder to holder)",
            ]
        }
        // The province lease's name and bucket are its own: a partition sharing them would
        // contend with it for one key (each holder overwriting the other's lease).
        #expect {
            _ = try ConfigLoader.parse("""
                mqtt: {clean_session: false}
                partition: {name: province, nats: [nats://127.0.0.1:4222]}
                """, file: "p.yaml")
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description)
                == ["p.yaml:2: partition name 'province' is taken: it names the province's own lease and fence"]
        }
        #expect {
            _ = try ConfigLoader.parse("""
                mqtt: {clean_session: false}
                partition: {name: north, bucket: collector_lease_province, nats: [nats://127.0.0.1:4222]}
                """, file: "p.yaml")
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description)
                == ["p.yaml:2: bucket 'collector_lease_province' is the province lease's; give the partition another"]
        }
    }

    /// remote_write targets: the url, tier, interval and backfill, each problem at its line.
    @Test func remoteWriteTargets() throws {
        let c = try ConfigLoader.parse("remote_write:\n  - {url: \"http://vm:8428/api/v1/write\", tier: 15m, interval: 10s, backfill: 1d}\n", file: "w.yaml")
        #expect(c.remoteWrite == [CollectorConfig.RemoteWriteTarget(url: "http://vm:8428/api/v1/write", tier: .quarterHour,
                                                                    intervalMillis: 10_000, backfillMillis: 86_400_000)])
        #expect {
            _ = try ConfigLoader.parse("remote_write:\n  - {url: \"ftp://x\", tier: 2m}\n  - {interval: 100ms}\n", file: "w.yaml")
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = ["w.yaml:2: url 'ftp://x' is not http(s)://host[:port]/path", "w.yaml:2: tier must be 1m, 15m, 1h, 1d",
                        "w.yaml:3: a remote_write target needs a url", "w.yaml:3: interval must be at least 1s"]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    /// Raw readings are the dedupe index: a retention shorter than `accept_age` is refused at
    /// its line (not raised silently); left out, it is two years, or `accept_age` if longer.
    @Test func rawRetentionIsAtLeastAcceptAge() throws {
        #expect {
            _ = try ConfigLoader.parse("storage:\n  accept_age: 30d\n  raw_retention: 7d\n", file: "r.yaml")
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description)
                == ["r.yaml:3: raw_retention (7d) must be at least accept_age (30d): raw readings are the dedupe index of every accepted time"]
        }
        #expect(try ConfigLoader.parse("storage: {accept_age: 30d}", file: "d.yaml").storage.rawRetentionMillis == 730 * 86_400_000)
        #expect(try ConfigLoader.parse("storage: {accept_age: 1000d}", file: "d.yaml").storage.rawRetentionMillis == 1000 * 86_400_000)
        #expect(try ConfigLoader.parse("storage: {accept_age: 1h, raw_retention: 1h}", file: "d.yaml").storage.rawRetentionMillis == 3_600_000)
    }

    /// Resolved alerts are kept two years by default, or as long as said, or forever.
    @Test func alertRetention() throws {
        #expect(try ConfigLoader.parse("storage: {accept_age: 30d}", file: "d.yaml").storage.alertRetentionMillis == 730 * 86_400_000)
        #expect(try ConfigLoader.parse("storage: {alert_retention: 90d}", file: "d.yaml").storage.alertRetentionMillis == 90 * 86_400_000)
        #expect(try ConfigLoader.parse("storage: {alert_retention: forever}", file: "d.yaml").storage.alertRetentionMillis == nil)
        #expect {
            _ = try ConfigLoader.parse("storage:\n  alert_retention: 2h\n", file: "a.yaml")
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description)
                == ["a.yaml:2: alert_retention must be a duration of at least 1d (e.g. 730d) or forever"]
        }
    }

    /// Each rollup tier has its own retention (`forever` allowed), at least `accept_age`;
    /// by default the minutes are kept two years and the coarser tiers forever.
    @Test func rollupRetentionPerTier() throws {
        let d = try ConfigLoader.parse("storage: {accept_age: 30d}", file: "d.yaml").storage.rollupRetentionMillis
        #expect(d == [.minute: 730 * 86_400_000, .quarterHour: nil, .hour: nil, .day: nil])
        let c = try ConfigLoader.parse("""
            storage:
              rollup_retention: {1m: 90d, 15m: 1000d, 1d: forever}
            """, file: "c.yaml").storage.rollupRetentionMillis
        #expect(c == [.minute: 90 * 86_400_000, .quarterHour: 1000 * 86_400_000, .hour: nil, .day: nil])
        #expect {
            _ = try ConfigLoader.parse("""
                storage:
                  accept_age: 30d
                  rollup_retention:
                    1m: 7d
                    1h: soon
                    5m: 1d
                """, file: "r.yaml")
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description) == [
                "r.yaml:4: rollup_retention 1m (7d) must be at least accept_age (30d): a reading that late still updates its buckets",
                "r.yaml:5: rollup_retention 1h: bad duration 'soon' (use e.g. 90d, 2w, or forever)",
                "r.yaml:6: unknown key '5m' in storage.rollup_retention",
            ]
        }
    }

    @Test func derivedSection() throws {
        let c = try ConfigLoader.parse("""
            province: {region: 3}
            derived:
              rainy_day_mm: 5
              outage_silent_intervals: 3
              flood_risk: [{rain_24h_mm: 80, earlier_days: 0, level: 1}, {rain_24h_mm: 80, above: true, earlier_days: 0, susceptibility: high, level: 3}]
              flood_risk_zones:
                z1: [{rain_24h_mm: 40, earlier_days: 1, level: 2}]
            """, file: "d.yaml")
        #expect(c.derived.rainyDayMM == 5 && c.derived.outageSilentIntervals == 3 && c.derived.provinceRegion == 3)
        #expect(c.derived.floodRisk?.level(rain24hMM: 90, earlierDays: 0, susceptibility: .low) == 1)
        #expect(c.derived.floodRisk?.level(rain24hMM: 90, earlierDays: 0, susceptibility: .high) == 3)
        #expect(c.derived.floodRisk?.level(rain24hMM: 80, earlierDays: 0, susceptibility: .high) == 1)
        #expect(c.derived.floodRiskZones["z1"]?.level(rain24hMM: 40, earlierDays: 1, susceptibility: .low) == 2)
        #expect {
            _ = try ConfigLoader.parse("""
                derived:
                  flood_risk:
                    - {rain_24h_mm: 80, level: 1}
                    - {rain_24h_mm: 80, earlier_days: 1, level: 9, colour: red}
                """, file: "bad.yaml")
        } throws: { error in
            let lines = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            return lines == [
                "bad.yaml:3: a flood-risk case needs rain_24h_mm, earlier_days and level; 'earlier_days' is missing",
                "bad.yaml:4: 'level' must be between 1 and 5, not 9",
                "bad.yaml:4: unknown key 'colour' in a flood-risk case",
            ]
        }
    }

    @Test func topicPatternsAreChecked() throws {
        let c = try ConfigLoader.parse("mqtt:\n  subscriptions:\n    - {topic: \"$share/g/t/{district}/{sensor}\"}\n", file: "p.yaml")
        #expect(c.mqtt.subscriptions.first?.subscribeTopic == "$share/g/t/+/+")
        #expect {
            _ = try ConfigLoader.parse("mqtt:\n  subscriptions:\n    - {topic: \"t/{zone}\"}\n", file: "p.yaml")
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description) == ["p.yaml:3: 't/{zone}': unknown placeholder {zone} (use {sensor}, {unit}, {district} or {kind})"]
        }
    }

    @Test func yamlSyntaxErrorHasALine() {
        #expect {
            _ = try ConfigLoader.parse("mqtt:\n  url: [unclosed\n", file: "x.yaml")
        } throws: { error in
            ((error as? ConfigProblems)?.problems.first?.description ?? "").hasPrefix("x.yaml:")
        }
    }

    @Test(arguments: [("500ms", 500), ("10s", 10_000), ("1h30m", 5_400_000), ("7d", 604_800_000), ("2w", 1_209_600_000)] as [(String, Int64)])
    func durations(text: String, ms: Int64) {
        #expect(DurationText.millis(text) == ms)
    }

    @Test(arguments: ["", "10", "s", "10x", "-5s", "1.5h"])
    func badDurations(text: String) {
        #expect(DurationText.millis(text) == nil)
    }

    @Test func topicFilters() {
        #expect(ConfigLoader.validFilter("telemetry/#"))
        #expect(ConfigLoader.validFilter("telemetry/+/forest/+"))
        #expect(!ConfigLoader.validFilter("telemetry/#/x"))
        #expect(!ConfigLoader.validFilter("tele+metry"))
    }
}

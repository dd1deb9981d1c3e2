import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The dashboard (`GET /`) in real headless Chromium against a running collector with tokens:
/// it asks for a token, shows what the API says, receives an alert over SSE after a triggering
/// publish, acknowledges it, charts a series, fits a phone, and loads nothing from elsewhere.
/// Screenshots are kept in data/test-artifacts/.
@Suite(.serialized) struct DashboardTests {
    static let viewer = TestTokens.viewer
    static let operatorToken = TestTokens.operatorToken

    @Test func dashboardInHeadlessChromium() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        // Two districts: muong-te watches 10 of 40 ha (ft-a2 stays silent), sin-ho all of its 20.
        try """
            districts: [muong-te, sin-ho]
            zones:
              - {id: z1, kind: forest, unit: muong-te, area_ha: 10}
              - {id: z2, kind: forest, unit: muong-te, area_ha: 30}
              - {id: z3, kind: forest, unit: sin-ho, area_ha: 20}
            sensors:
              - {id: ft-a1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
              - {id: ft-a2, kind: forest, unit: muong-te, zone: z2, interval: 10m}
              - {id: ft-b1, kind: forest, unit: sin-ho, zone: z3, interval: 10m}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - name: forest-hot
                severity: critical
                match: {kind: forest, metric: temp_c}
                when: {above: 35}
                summary: "{value} C at {sensor} ({district})"
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let (broker, c) = try await TestTokens.startCollector("it-dashboard", in: dir, extraYAML: "sensors: \(dir)/sensors")
        defer { broker.stop() }
        let now = Int(Date().timeIntervalSince1970)
        // An hour of mild readings: no alert, two of three sensors online.
        for sensor in ["ft-a1", "ft-b1"] {
            try broker.publish(topic: "telemetry/\(sensor)", lines: stride(from: 3600, to: 0, by: -600).map {
                #"{"ts": \#(now - $0), "temp_c": \#(20 + $0 / 600), "rh_pct": 60}"#
            })
        }
        try await waitUntil("readings stored", seconds: 10) {
            let (_, body) = try await Self.get(c.baseURL + "/api/v1/series?sensor=ft-b1", token: Self.viewer)
            return String(decoding: body, as: UTF8.self).contains(#""last_value":21"#)
        }

        // The page is open; its data is not: without a token it asks for one.
        let page = try await Self.get(c.baseURL + "/")
        #expect(page.status == 200)
        let browser = try await HeadlessBrowser(url: c.baseURL + "/")
        defer { browser.close() }
        try await browser.wait("document.getElementById('token-dialog').open")
        // The duty officer's token, as the dialog would keep it.
        _ = try await browser.eval("localStorage.setItem('collector.token', '\(Self.operatorToken)'); location.reload(); true")
        try await browser.wait("document.body.dataset.loaded === 'yes' && document.body.dataset.sse === 'open'")

        // Coverage cells carry exactly the API's numbers.
        let coverage = try await Self.json(c.baseURL + "/api/v1/coverage") as? [[String: Any]] ?? []
        let forest = coverage.filter { $0["indicator"] as? String == "forest_monitored_pct" }
        #expect(Set(forest.compactMap { $0["scope"] as? String }) == ["province", "muong-te", "sin-ho"])
        #expect(forest.first { $0["scope"] as? String == "muong-te" }?["value_pct"] as? Double == 25)
        for row in coverage {
            let scope = row["scope"] as? String ?? "", indicator = row["indicator"] as? String ?? ""
            let shown = try await browser.eval(
                "(document.querySelector('td[data-scope=\"\(scope)\"][data-indicator=\"\(indicator)\"]') || {dataset: {}}).dataset.value || null")
            #expect(Double(shown as? String ?? "") == row["value_pct"] as? Double, "coverage \(scope) \(indicator)")
        }
        // Fire danger: a tile per district; sensors: the API's counts.
        let tiles = try await browser.eval("[...document.querySelectorAll('#fire-grid .tile')].map(t => t.dataset.unit).join(',')")
        #expect(tiles as? String == "muong-te,sin-ho")
        let online = try await browser.eval("document.querySelector('#sensor-counts [data-status=online] b').textContent")
        let stale = try await browser.eval("document.querySelector('#sensor-counts [data-status=stale] b').textContent")
        #expect(online as? String == "2" && stale as? String == "1")
        #expect(try await browser.eval("document.querySelectorAll('#alert-list li[data-rule]').length") as? Int == 0)

        // A hot reading: the alert arrives over SSE (the list is only fetched when the stream opens).
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 5), "temp_c": 39.5}"#])
        try await waitUntil("the alert firing in the API", seconds: 10) {
            (try await Self.json(c.baseURL + "/api/v1/alerts?state=firing") as? [Any])?.count == 1
        }
        try await browser.wait("document.querySelector('#alert-list li[data-rule=\"forest-hot\"][data-subject=\"ft-a1\"][data-state=\"firing\"]')")
        let alertText = try await browser.eval("document.querySelector('#alert-list li[data-rule=\"forest-hot\"]').textContent")
        #expect((alertText as? String)?.contains("39.5 C at ft-a1 (muong-te)") == true)
        #expect(try await browser.eval("document.querySelector('#alert-list li.critical .bar') !== null") as? Bool == true)

        // Acknowledge from the page, as the duty officer.
        _ = try await browser.eval("const o = document.getElementById('operator'); o.value = 'Lò Văn A'; o.dispatchEvent(new Event('change')); true")
        _ = try await browser.eval("document.querySelector('#alert-list li[data-rule=\"forest-hot\"] button.ack').click(); true")
        try await browser.wait("document.querySelector('#alert-list li.acked[data-rule=\"forest-hot\"]')")
        let alerts = try await Self.json(c.baseURL + "/api/v1/alerts?state=firing") as? [[String: Any]] ?? []
        #expect(alerts.count == 1 && alerts.first?["acknowledged_by"] as? String == "Lò Văn A")

        // A chart: the last hour is raw, as many points as the API has.
        _ = try await browser.eval("const s = document.getElementById('series-input'); s.value = 'ft-b1/temp_c'; document.getElementById('range').value = '3600'; s.dispatchEvent(new Event('change')); true")
        try await browser.wait("document.getElementById('chart-svg').dataset.series === 'ft-b1/temp_c' && document.querySelector('#chart-svg polyline')")
        let window = try await browser.eval("['from', 'to'].map(k => document.getElementById('chart-svg').dataset[k]).join('&to=')") as? String ?? ""
        let raw = try await Self.json(c.baseURL + "/api/v1/raw?series=ft-b1/temp_c&from=\(window)") as? [String: Any]
        #expect((raw?["points"] as? [Any])?.isEmpty == false)
        let points = try await browser.eval("document.getElementById('chart-svg').dataset.points")
        #expect(Int(points as? String ?? "") == (raw?["points"] as? [Any])?.count)
        #expect(try await browser.eval("document.getElementById('chart-svg').dataset.source") as? String == "raw")

        // Screenshots as artifacts: the ops-room size, then a phone (one column, no sideways scroll).
        let artifacts = packageRoot + "/data/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        try await browser.send(["cmd": "screenshot", "path": artifacts + "/dashboard-1280x800.png"])
        try await browser.send(["cmd": "viewport", "width": 390, "height": 844, "mobile": true])
        try await browser.wait("getComputedStyle(document.querySelector('main')).gridTemplateColumns.split(' ').length === 1")
        let overflow = try await browser.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        #expect(overflow as? Int == 0, "the page scrolls sideways on a phone by \(overflow ?? "?") px")
        try await browser.send(["cmd": "screenshot", "path": artifacts + "/dashboard-phone.png"])
        for name in ["dashboard-1280x800.png", "dashboard-phone.png"] {
            let png = try Data(contentsOf: URL(fileURLWithPath: artifacts + "/" + name))
            #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name) is not a PNG")
        }

        // Nothing from outside: every request the page made went to this collector.
        let requests = try await browser.send(["cmd": "requests"]) as? [String] ?? []
        #expect(requests.count >= 6)
        #expect(requests.allSatisfy { $0.hasPrefix(c.baseURL + "/") }, "requests: \(requests)")
        _ = try await c.terminate()
    }

    /// The operations room as a duty officer sees it: in Vietnamese (the browser asks for it),
    /// the stations on the map in their level's colour (read from the screenshot's pixels), a
    /// storm of fire-danger alerts as one group that one click acknowledges, and English when
    /// the browser asks for English first. Screenshots at 1440 x 1000 and on a phone.
    @Test func operationsRoomMapGroupsAndVietnamese() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            province: {id: lai-chau, name: Lai Châu}
            levels:
              - {id: district, name: Huyện cũ, groups: [{id: muong-te, name: Mường Tè}, {id: sin-ho, name: Sìn Hồ}]}
            units:
              - {id: xa-pa-u, name: Xã Pa Ủ, type: commune, district: muong-te}
              - {id: xa-mu-ca, name: Xã Mù Cả, type: commune, district: muong-te}
              - {id: xa-sin-ho, name: Xã Sìn Hồ, type: commune, district: sin-ho}
            zones:
              - {id: z1, kind: forest, unit: xa-pa-u, area_ha: 10}
              - {id: z2, kind: forest, unit: xa-sin-ho, area_ha: 10}
            sensors:
            \((1...4).map { "  - {id: ft-m\($0), name: Trạm rừng Mường Tè \($0), kind: forest, unit: \($0 <= 2 ? "xa-pa-u" : "xa-mu-ca"), zone: z1, interval: 1d, location: {lat: 22.3\($0), lon: 102.8\($0)}}" }.joined(separator: "\n"))
              - {id: ft-s1, name: Trạm rừng Sìn Hồ 1, kind: forest, unit: xa-sin-ho, zone: z2, interval: 1d, location: {lat: 22.36, lon: 103.24}}
              - {id: hy-s1, name: Trạm thủy văn Sìn Hồ 1, kind: hydro, unit: xa-sin-ho, interval: 5m, location: {lat: 22.30, lon: 103.30},
                 alarm_levels_m: [2.0, 3.0, 4.0]}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: forest-fire-danger, severity: warning, severity_by_value: {5: critical}, match: {kind: forest, metric: fire_danger_level},
                 when: {at_least: 4}, clear: {below: 3}, summary: "Fire danger level {value} at {sensor}"}
              - {name: river-alarm-level-3, severity: critical, match: {kind: hydro, metric: water_alarm_level}, when: {at_least: 3},
                 summary: "River at {sensor} above alarm level III"}
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let (broker, c) = try await TestTokens.startCollector("it-ops-room", in: dir, extraYAML: "sensors: \(dir)/sensors")
        defer { broker.stop() }
        let browser = try await HeadlessBrowser(url: c.baseURL + "/", width: 1440, height: 1000)
        defer { browser.close() }
        try await browser.send(["cmd": "languages", "accept": "vi-VN,vi;q=0.9"])
        _ = try await browser.eval("localStorage.setItem('collector.token', '\(Self.operatorToken)'); localStorage.removeItem('collector.lang'); location.reload(); true")
        try await browser.wait("document.body.dataset.loaded === 'yes' && document.body.dataset.sse === 'open'")
        #expect(try await browser.eval("document.documentElement.lang") as? String == "vi")
        #expect(try await browser.eval("document.querySelector('#alerts h2 [data-t=liveAlerts]').textContent") as? String == "Cảnh báo đang hoạt động")
        // Communes are labelled clusters with their names; six stations on the map, all quiet.
        try await browser.wait("document.querySelectorAll('#map-svg circle.station').length === 6")
        let mapLabels = "[...document.querySelectorAll('#map-svg text.unit')].map(t => t.textContent).sort().join('|')"
        #expect(try await browser.eval(mapLabels) as? String == "Xã Mù Cả (2)|Xã Pa Ủ (2)|Xã Sìn Hồ (2)")

        // Three Mường Tè stations and the Sìn Hồ one reach fire danger IV after four dry days; the
        // river at Sìn Hồ goes above alarm level III.
        let now = Int(Date().timeIntervalSince1970)
        let todayLocal = (now + 7 * 3600) / 86_400 * 86_400 - 7 * 3600
        func at13(_ daysAgo: Int) -> Int { todayLocal - daysAgo * 86_400 + 13 * 3600 }
        for sensor in ["ft-m1", "ft-m2", "ft-m3", "ft-s1"] {
            try broker.publish(topic: "telemetry/\(sensor)", lines: [#"{"ts": \#(at13(5)), "temp_c": 26, "rh_pct": 85, "rain_mm": 12}"#]
                + (2...4).reversed().map { #"{"ts": \#(at13($0)), "temp_c": 38, "rh_pct": 20, "rain_mm": 0}"# })
        }
        try broker.publish(topic: "telemetry/hy-s1", lines: [#"{"ts": \#(now - 30), "level_m": 4.4}"#])
        try await waitUntil("five alerts firing", seconds: 20) {
            (try await Self.json(c.baseURL + "/api/v1/alerts?state=firing") as? [Any])?.count == 5
        }
        // By commune: the Pa Ủ storm is two alerts, Mù Cả's one.
        try await browser.wait("document.querySelector('#alert-list li.group[data-group-place=\"xa-pa-u\"]')?.dataset.count === '2'")
        #expect(try await browser.eval("document.querySelector('#alert-list li.group[data-group-place=\"xa-mu-ca\"]')?.dataset.count") as? String == "1")
        // The officer switches to the former districts: the map's clusters, the coverage table
        // and the groups follow (the choice is kept in the browser).
        _ = try await browser.eval("const l = document.getElementById('level-select'); l.value = 'district'; l.dispatchEvent(new Event('change')); true")
        try await browser.wait("\(mapLabels) === 'Mường Tè (4)|Sìn Hồ (2)'")
        try await browser.wait("[...document.querySelectorAll('#coverage-table td[data-scope]')].map(td => td.dataset.scope).includes('muong-te')")
        #expect(try await browser.eval("localStorage.getItem('collector.level')") as? String == "district")
        // The page hears them on its stream and regroups: the critical river alarm first, then
        // "forest-fire-danger · Mường Tè · 3".
        try await browser.wait("document.querySelector('#alert-list li.group[data-group-place=\"muong-te\"]')?.dataset.count === '3'")
        let groupText = try await browser.eval("document.querySelector('#alert-list li.group[data-group-place=\"muong-te\"] .what').textContent") as? String
        #expect(groupText == "cần chú ýforest-fire-danger· Mường Tè · 3", "\(groupText ?? "nil")")
        let order = try await browser.eval("[...document.querySelectorAll('#alert-list li.group')].map(g => g.dataset.groupRule + '/' + g.dataset.groupPlace).join(',')")
        #expect(order as? String == "river-alarm-level-3/sin-ho,forest-fire-danger/muong-te,forest-fire-danger/sin-ho")

        // The map: stations coloured by level, as the screenshot's pixels show.
        _ = try await browser.eval("refresh(); true")
        try await browser.wait("document.querySelector('#map-svg circle[data-sensor=\"hy-s1\"]')?.dataset.colour === '#d92d20' && document.querySelector('#map-svg circle[data-sensor=\"ft-m1\"]')?.dataset.colour === '#f08a24'")
        func pixel(_ sensor: String) async throws -> [Int] {
            let at = try await browser.eval("""
                (() => { const r = document.querySelector('#map-svg circle.station[data-sensor="\(sensor)"]').getBoundingClientRect();
                         return [Math.round(r.left + r.width / 2 + scrollX), Math.round(r.top + r.height / 2 + scrollY)]; })()
                """) as? [Int] ?? []
            return try await browser.send(["cmd": "pixel", "x": at.first ?? 0, "y": at.last ?? 0]) as? [Int] ?? []
        }
        func near(_ a: [Int], _ hex: String) -> Bool {
            let v = Int(hex.dropFirst(), radix: 16)!
            let want = [(v >> 16) & 255, (v >> 8) & 255, v & 255]
            return a.count == 3 && zip(a, want).allSatisfy { abs($0 - $1) <= 8 }
        }
        let river = try await pixel("hy-s1"), fire = try await pixel("ft-m1"), quiet = try await pixel("ft-m4")
        #expect(near(river, "#d92d20"), "river alarm III is red on the map: \(river)")
        #expect(near(fire, "#f08a24"), "fire danger IV is orange on the map: \(fire)")
        #expect(near(quiet, "#5b6b7a"), "a quiet station is grey: \(quiet)")
        #expect(try await browser.eval("document.querySelector('#map-svg circle[data-sensor=\"hy-s1\"]').dataset.alert") as? String == "critical")
        // A click on a station: its name, unit and level, its latest readings, and a chart button.
        _ = try await browser.eval("document.querySelector('#map-svg circle[data-sensor=\"hy-s1\"]').dispatchEvent(new MouseEvent('click', {bubbles: true})); true")
        try await browser.wait("document.getElementById('map-detail').textContent.includes('level_m 4.4')")
        let detail = try await browser.eval("document.getElementById('map-detail').textContent") as? String ?? ""
        #expect(detail.hasPrefix("Trạm thủy văn Sìn Hồ 1 · thủy văn · Xã Sìn Hồ · báo động III"), "\(detail)")
        _ = try await browser.eval("document.querySelector('#map-detail button').click(); true")
        try await browser.wait("document.getElementById('chart-svg').dataset.series?.startsWith('hy-s1/')")

        // One click acknowledges the Mường Tè group: each member records who and when.
        _ = try await browser.eval("const o = document.getElementById('operator'); o.value = 'Lò Văn A'; o.dispatchEvent(new Event('change')); true")
        _ = try await browser.eval("document.querySelector('#alert-list li.group[data-group-place=\"muong-te\"] button.ack-group').click(); true")
        try await browser.wait("!document.querySelector('#alert-list li.group[data-group-place=\"muong-te\"] button.ack-group') && document.querySelectorAll('#alert-list li.acked[data-rule=\"forest-fire-danger\"]').length === 3")
        let firing = try await Self.json(c.baseURL + "/api/v1/alerts?state=firing") as? [[String: Any]] ?? []
        let acked = firing.filter { $0["acknowledged_by"] as? String == "Lò Văn A" }.compactMap { $0["subject"] as? String }.sorted()
        #expect(acked == ["ft-m1", "ft-m2", "ft-m3"])

        let artifacts = packageRoot + "/data/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        try await browser.send(["cmd": "screenshot", "path": artifacts + "/ops-room-vi-1440x1000.png"])
        try await browser.send(["cmd": "viewport", "width": 390, "height": 844, "mobile": true])
        try await browser.wait("getComputedStyle(document.querySelector('main')).gridTemplateColumns.split(' ').length === 1")
        _ = try await browser.eval("drawMap(); true")
        #expect(try await browser.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth") as? Int == 0)
        let phoneRiver = try await pixel("hy-s1")
        #expect(near(phoneRiver, "#d92d20"), "on a phone too: \(phoneRiver)")
        try await browser.send(["cmd": "screenshot", "path": artifacts + "/ops-room-vi-phone.png"])

        // English when the browser asks for it first; the switch is kept over the browser's wish.
        try await browser.send(["cmd": "languages", "accept": "fr-FR,en;q=0.8,vi;q=0.5"])
        _ = try await browser.eval("location.reload(); true")
        try await browser.wait("document.body.dataset.loaded === 'yes' && document.documentElement.lang === 'en'")
        #expect(try await browser.eval("document.querySelector('#alerts h2 [data-t=liveAlerts]').textContent") as? String == "Live alerts")
        _ = try await browser.eval("document.getElementById('lang-button').click(); location.reload(); true")
        try await browser.wait("document.body.dataset.loaded === 'yes' && document.documentElement.lang === 'vi'")
        _ = try await c.terminate()
    }

    static func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: Data) {
        var r = URLRequest(url: URL(string: url)!)
        r.timeoutInterval = 10
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, resp) = try await URLSession.shared.data(for: r)
        return ((resp as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    static func json(_ url: String) async throws -> Any {
        let (status, body) = try await get(url, token: viewer)
        guard status == 200 else { throw HarnessError("GET \(url) -> \(status)") }
        return try JSONSerialization.jsonObject(with: body)
    }
}

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
              - {id: z1, kind: forest, district: muong-te, area_ha: 10}
              - {id: z2, kind: forest, district: muong-te, area_ha: 30}
              - {id: z3, kind: forest, district: sin-ho, area_ha: 20}
            sensors:
              - {id: ft-a1, kind: forest, district: muong-te, zone: z1, interval: 10m}
              - {id: ft-a2, kind: forest, district: muong-te, zone: z2, interval: 10m}
              - {id: ft-b1, kind: forest, district: sin-ho, zone: z3, interval: 10m}
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
        let tiles = try await browser.eval("[...document.querySelectorAll('#fire-grid .tile')].map(t => t.dataset.district).join(',')")
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

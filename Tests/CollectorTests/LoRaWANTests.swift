import Foundation
import Testing

/// LoRaWAN network servers publishing to our broker, as their MQTT integrations do: a
/// ChirpStack v4 and a The Things Stack v3 subscription, devices mapped to catalogue
/// stations, an uplink delivered twice stored once, one without a decoded payload giving its
/// link metrics.
@Suite struct LoRaWANTests {
    static func iso(_ t: Int) -> String {
        Date(timeIntervalSince1970: Double(t)).formatted(.iso8601)   // 2026-11-18T09:41:40Z
    }

    @Test func chirpStackAndTheThingsStackUplinks() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            districts: [sin-ho]
            sensors:
              - {id: hy-lora-1, kind: hydro, district: sin-ho, interval: 15m, dev_eui: 70B3D57ED005B89A}
              - {id: hy-lora-2, kind: hydro, district: sin-ho, interval: 15m, device_id: hy-sh-gauge-7}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-lorawan",
                                     subscriptions: [#"{topic: "application/+/device/+/event/up", format: chirpstack}"#,
                                                     #"{topic: "v3/+/devices/+/up", format: ttn}"#],
                                     extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        let t = Int(Date().timeIntervalSince1970) - 120
        func chirpstack(fCnt: Int, at time: Int, object: String?) -> String {
            #"{"deduplicationId": "d-\#(fCnt)-\#(time)", "time": "\#(Self.iso(time))", "deviceInfo": {"deviceName": "gauge-12", "devEui": "70b3d57ed005b89a"}, "#
                + #""devAddr": "01f2a3b4", "fCnt": \#(fCnt), "fPort": 2, "data": "AQI=", "#
                + (object.map { #""object": \#($0), "# } ?? "")
                + #""rxInfo": [{"gatewayId": "aa555a0000000101", "rssi": -101, "snr": -4.5}]}"#
        }
        let topic = "application/4f1c/device/70b3d57ed005b89a/event/up"
        try broker.publish(topic: topic, lines: [chirpstack(fCnt: 41, at: t, object: #"{"level_m": 2.41, "battery_v": 3.6}"#)])
        // The network server delivers the same uplink again (another gateway, a reconnect):
        // the same frame, a later receive time.
        try broker.publish(topic: topic, lines: [chirpstack(fCnt: 41, at: t + 2, object: #"{"level_m": 2.41, "battery_v": 3.6}"#)])
        try broker.publish(topic: topic, lines: [chirpstack(fCnt: 42, at: t + 60, object: nil)])
        try broker.publish(topic: "v3/rivers@ttn/devices/hy-sh-gauge-7/up", lines: [
            #"{"end_device_ids": {"device_id": "hy-sh-gauge-7", "application_ids": {"application_id": "rivers"}}, "received_at": "\#(Self.iso(t + 5))", "#
                + #""uplink_message": {"session_key_id": "AXBSH1Pk6Z0G166RlH16CQ==", "f_port": 1, "f_cnt": 7, "decoded_payload": {"level_m": 1.93}, "#
                + #""rx_metadata": [{"gateway_ids": {"gateway_id": "sin-ho-gw"}, "rssi": -112, "snr": -9.75}], "received_at": "\#(Self.iso(t + 5))"}}"#,
        ])
        func points(_ series: String) async throws -> [(t: Int, v: Double)] {
            guard let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=\(series)&from=\(t - 600)&to=\(t + 600)") else { return [] }   // none yet
            return ((o["points"] as? [[String: Any]]) ?? []).map { (($0["t"] as? NSNumber)?.intValue ?? 0, ($0["value"] as? NSNumber)?.doubleValue ?? .nan) }
        }
        try await waitUntil("all four uplinks taken", seconds: 15) {
            let text = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
            let ttn = try await points("hy-lora-2/level_m").count, counters = try await points("hy-lora-1/lora_f_cnt").count
            return text.contains("collector_lorawan_repeated_frames_total 1") && ttn == 1 && counters == 2
        }
        // The catalogue's stations, at the network's receive time; the repeat not stored.
        #expect(try await points("hy-lora-1/level_m").map(\.v) == [2.41])
        #expect(try await points("hy-lora-1/level_m").map(\.t) == [t])
        #expect(try await points("hy-lora-1/lora_f_cnt").map(\.v) == [41, 42])
        #expect(try await points("hy-lora-1/lora_rssi_dbm").map(\.v) == [-101, -101])   // the uplink without a payload too
        #expect(try await points("hy-lora-2/lora_snr_db").map(\.v) == [-9.75])
        let sensors = try JSONSerialization.jsonObject(with: try await httpGet(c.baseURL + "/api/v1/sensors").body) as? [[String: Any]] ?? []
        #expect(sensors.filter { $0["status"] as? String == "online" }.compactMap { $0["id"] as? String }.sorted() == ["hy-lora-1", "hy-lora-2"])
        // A message that is not an uplink (here a join) is quarantined with a reason.
        try broker.publish(topic: "v3/rivers@ttn/devices/hy-sh-gauge-7/up",
                           lines: [#"{"end_device_ids": {"device_id": "hy-sh-gauge-7"}, "join_accept": {"session_key_id": "x"}}"#])
        try await waitUntil("the join quarantined", seconds: 10) {
            String(decoding: try await httpGet(c.baseURL + "/api/v1/quarantine").body, as: UTF8.self).contains("bad_lorawan")
        }
        _ = try await c.terminate()
    }
}

import Testing
@testable import Telemetry

/// Uplinks shaped as ChirpStack v4 and The Things Stack v3 document their MQTT integration
/// events (our devices and values).
@Suite struct LoRaWANDecoderTests {
    let now: EpochMillis = 1_795_000_100_000
    var context: DecodeContext { DecodeContext(topic: "application/app-1/device/70b3d57ed005b89a/event/up", now: now) }

    func decode(_ server: LoRaWANDecoder.Server, _ s: String, devices: [String: String] = [:]) throws(DecodeError)
        -> (readings: [String: Double], time: EpochMillis?, frame: LoRaWANDecoder.Frame) {
        var out: [Reading] = []
        let frame = try LoRaWANDecoder(server).decode(Array(s.utf8), context: context, devices: devices, into: &out)
        return (Dictionary(uniqueKeysWithValues: out.map { ($0.series.description, $0.value) }), out.first?.time, frame)
    }

    static let chirpstackUp = #"""
        {"deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d", "time": "2026-11-18T09:41:40.125+00:00",
         "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "Lai Chau", "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
                        "applicationName": "forest", "deviceProfileName": "fire-weather", "deviceName": "mt-ws-12", "devEui": "70B3D57ED005B89A",
                        "tags": {"unit": "xa-pa-u"}},
         "devAddr": "01f2a3b4", "adr": true, "dr": 5, "fCnt": 1834, "fPort": 2, "confirmed": false, "data": "ASsBKAAA",
         "object": {"temp_c": 29.9, "rh_pct": 29.6, "battery": {"volts": 3.62}, "status": "ok", "alarm": false},
         "rxInfo": [{"gatewayId": "aa555a0000000101", "uplinkId": 4711, "rssi": -97, "snr": -3.5, "channel": 2},
                    {"gatewayId": "aa555a0000000102", "uplinkId": 4712, "rssi": -84, "snr": 6.25, "channel": 2}],
         "txInfo": {"frequency": 923200000, "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}}}
        """#

    @Test func chirpStackUplink() throws {
        let got = try decode(.chirpstack, Self.chirpstackUp)
        #expect(got.readings == ["70b3d57ed005b89a/temp_c": 29.9, "70b3d57ed005b89a/rh_pct": 29.6, "70b3d57ed005b89a/battery.volts": 3.62,
                                 "70b3d57ed005b89a/lora_rssi_dbm": -84, "70b3d57ed005b89a/lora_snr_db": 6.25,
                                 "70b3d57ed005b89a/lora_gateways": 2, "70b3d57ed005b89a/lora_f_cnt": 1834])
        #expect(got.time == 1_794_994_900_125)   // the network's receive time
        #expect(got.frame == LoRaWANDecoder.Frame(device: "70b3d57ed005b89a", session: "01f2a3b4", counter: 1834, received: 1_794_994_900_125))
        // The catalogue's station for the device.
        let mapped = try decode(.chirpstack, Self.chirpstackUp, devices: ["eui:70b3d57ed005b89a": "ft-mt-0012"])
        #expect(mapped.readings["ft-mt-0012/temp_c"] == 29.9 && mapped.frame.device == "ft-mt-0012")
    }

    /// Without a codec there is no `object`: the uplink still says the device is heard.
    @Test func anUplinkWithoutADecodedPayloadGivesItsLink() throws {
        let bare = Self.chirpstackUp.replacingOccurrences(of: #""object": {"temp_c": 29.9, "rh_pct": 29.6, "battery": {"volts": 3.62}, "status": "ok", "alarm": false},"#, with: "")
        let got = try decode(.chirpstack, bare)
        #expect(got.readings.keys.sorted() == ["70b3d57ed005b89a/lora_f_cnt", "70b3d57ed005b89a/lora_gateways",
                                                "70b3d57ed005b89a/lora_rssi_dbm", "70b3d57ed005b89a/lora_snr_db"])
    }

    /// A time in the decoded payload is the readings' time.
    @Test func aTimeInTheDecodedPayloadWins() throws {
        let timed = Self.chirpstackUp.replacingOccurrences(of: #""object": {"temp_c": 29.9,"#, with: #""object": {"ts": 1795000000, "temp_c": 29.9,"#)
        let got = try decode(.chirpstack, timed)
        #expect(got.time == 1_795_000_000_000 && got.readings["70b3d57ed005b89a/ts"] == nil)
    }

    static let ttnUp = #"""
        {"end_device_ids": {"device_id": "hy-sh-gauge-7", "application_ids": {"application_id": "rivers"},
                            "dev_eui": "0004A30B001C0530", "join_eui": "800000000000000C", "dev_addr": "00BCB929"},
         "correlation_ids": ["as:up:01HX6YGQ7E0V83YRZ7K4S5J4ZN"], "received_at": "2026-11-18T09:41:41.412Z",
         "uplink_message": {"session_key_id": "AXBSH1Pk6Z0G166RlH16CQ==", "f_port": 1, "frm_payload": "ASsBKAAA",
                            "decoded_payload": {"level_m": 2.41, "rain_mm": 0.5},
                            "rx_metadata": [{"gateway_ids": {"gateway_id": "sin-ho-gw", "eui": "AA555A0000000101"}, "rssi": -112, "channel_rssi": -112, "snr": -9.75}],
                            "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 10}}, "frequency": "923200000"},
                            "received_at": "2026-11-18T09:41:41.392837125Z", "consumed_airtime": "0.370688s"}}
        """#

    /// The Things Stack omits fields at their zero value: no `f_cnt` is counter 0.
    @Test func theThingsStackUplink() throws {
        let got = try decode(.ttn, Self.ttnUp)
        #expect(got.readings == ["0004a30b001c0530/level_m": 2.41, "0004a30b001c0530/rain_mm": 0.5, "0004a30b001c0530/lora_rssi_dbm": -112,
                                 "0004a30b001c0530/lora_snr_db": -9.75, "0004a30b001c0530/lora_gateways": 1, "0004a30b001c0530/lora_f_cnt": 0])
        #expect(got.time == 1_794_994_901_392)
        #expect(got.frame == LoRaWANDecoder.Frame(device: "0004a30b001c0530", session: "AXBSH1Pk6Z0G166RlH16CQ==", counter: 0, received: 1_794_994_901_392))
        #expect(try decode(.ttn, Self.ttnUp, devices: ["id:hy-sh-gauge-7": "hy-sh-0007"]).frame.device == "hy-sh-0007")
    }

    @Test(arguments: [
        (LoRaWANDecoder.Server.chirpstack, #"{"time": "2026-11-18T09:41:40Z", "object": {"t": 1}}"#),
        // a join event: the device and its new address, no uplink
        (.chirpstack, #"{"deduplicationId": "x", "time": "2026-11-18T09:41:40Z", "deviceInfo": {"devEui": "70b3d57ed005b89a"}, "devAddr": "01f2a3b5"}"#),
        // a status event
        (.chirpstack, #"{"time": "2026-11-18T09:41:40Z", "deviceInfo": {"devEui": "70b3d57ed005b89a"}, "margin": 7, "batteryLevel": 93.5}"#),
        (.chirpstack, #"[1, 2]"#),
        (.chirpstack, #"{"deviceInfo": {"devEui": "70b3d57ed005b89a"}, "fCnt": -1}"#),
        (.chirpstack, #"{"deviceInfo": {"devEui": "70b3d57ed005b89a"}, "object": [1]}"#),
        (.ttn, #"{"end_device_ids": {"device_id": "d1"}, "join_accept": {"session_key_id": "x"}}"#),
        (.ttn, #"{"end_device_ids": {"device_id": "d 1"}, "uplink_message": {"f_cnt": 1}}"#),
    ])
    func notAnUplinkIsRefused(server: LoRaWANDecoder.Server, payload: String) {
        #expect(throws: DecodeError.self, "\(payload)") { try decode(server, payload) }
    }

    /// A counter seen again in the device's session, received close to the stored frame, is
    /// the same frame; a new session, or the counter again much later (counters reset
    /// without a rejoin), is a frame of its own.
    @Test func repeatedFramesPerSession() {
        var s = LoRaWANSessions()
        let t: EpochMillis = 1_795_000_000_000
        let f = LoRaWANDecoder.Frame(device: "d", session: "a", counter: 10, received: t)
        #expect(!s.isRepeat(f))
        s.record(f)
        #expect(s.isRepeat(f) && s.isRepeat(.init(device: "d", session: "a", counter: 10, received: t + 2_000)))   // an echo 2 s later
        #expect(!s.isRepeat(.init(device: "d", session: "a", counter: 9, received: t)))    // late, not seen: a frame of its own
        #expect(!s.isRepeat(.init(device: "d", session: "b", counter: 10, received: t)))   // rejoined
        #expect(!s.isRepeat(.init(device: "e", session: "a", counter: 10, received: t)))
        // The device restarts its counters without a rejoin: 10 again, an hour later.
        #expect(!s.isRepeat(.init(device: "d", session: "a", counter: 10, received: t + 3_600_000)))
        s.record(.init(device: "d", session: "a", counter: 10, received: t + 3_600_000))
        #expect(s.isRepeat(.init(device: "d", session: "a", counter: 10, received: t + 3_601_000)))
        // Many frames: memory stays bounded, the newest still known.
        for k in Int64(11)..<2_000 { s.record(.init(device: "d", session: "a", counter: k, received: t + k * 60_000)) }
        #expect(s.isRepeat(.init(device: "d", session: "a", counter: 1_999, received: t + 1_999 * 60_000)))
    }

    /// The link is the gateway that heard the uplink best: its RSSI with its own SNR (0 when
    /// the server omits it), and every gateway counted.
    @Test func theLinkIsTheBestGateways() throws {
        let up = Self.ttnUp.replacingOccurrences(of: #""rx_metadata": [{"gateway_ids": {"gateway_id": "sin-ho-gw", "eui": "AA555A0000000101"}, "rssi": -112, "channel_rssi": -112, "snr": -9.75}]"#,
                                                 with: #""rx_metadata": [{"rssi": -112, "snr": 7.5}, {"rssi": -95}, {"gateway_ids": {"gateway_id": "g3"}}]"#)
        let got = try decode(.ttn, up)
        #expect(got.readings["0004a30b001c0530/lora_rssi_dbm"] == -95 && got.readings["0004a30b001c0530/lora_snr_db"] == 0)
        #expect(got.readings["0004a30b001c0530/lora_gateways"] == 3)
    }
}

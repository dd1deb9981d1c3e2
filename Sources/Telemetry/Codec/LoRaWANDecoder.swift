/// Decodes the uplink events of LoRaWAN network servers, as their MQTT integrations publish
/// them in JSON (README, "Payloads"):
///
/// - `chirpstack`: ChirpStack v4 (`application/+/device/+/event/up`): the device is
///   `deviceInfo.devEui`, the receive time `time`, the decoded payload `object`, the gateways'
///   reception `rxInfo[].rssi` and `.snr`, the frame counter `fCnt`, the session `devAddr`;
/// - `ttn`: The Things Stack v3 (`v3/+/devices/+/up`): the device is
///   `end_device_ids.dev_eui`, else `.device_id`, the receive time
///   `uplink_message.received_at`, the decoded payload `uplink_message.decoded_payload`, the
///   reception `rx_metadata[].rssi` and `.snr`, the frame counter `f_cnt` (absent when 0: the
///   server omits empty fields), the session `session_key_id`.
///
/// The sensor is the catalogue's station for the device (`dev_eui:` or `device_id:` on a
/// sensor), else the device EUI in lower case (TTN without an EUI: its device id). Every
/// numeric leaf of the decoded payload is a reading, nested keys joined with `.`; a `ts` or
/// `time` in it (epoch seconds or milliseconds, or RFC 3339) is the readings' time instead of
/// the server's. The link metrics `lora_rssi_dbm` and `lora_snr_db` (of the gateway that heard
/// it best),
/// `lora_gateways` and `lora_f_cnt` are readings of the sensor too, so an uplink without a
/// decoded payload (no codec configured) still says the device is heard and how well.
public struct LoRaWANDecoder: Sendable {
    public enum Server: String, Sendable { case chirpstack, ttn }

    /// What identifies an uplink: its device (the sensor), its session and frame counter. A
    /// repeated counter in one session is the same frame again (`LoRaWANSessions`).
    public struct Frame: Sendable, Hashable {
        public var device: String
        public var session: String
        public var counter: Int64
        /// When the network received it (the readings' time without one of the payload's).
        public var received: EpochMillis
        public init(device: String, session: String, counter: Int64, received: EpochMillis = 0) {
            self.device = device
            self.session = session
            self.counter = counter
            self.received = received
        }
    }

    /// Link metrics every uplink gives.
    public static let linkMetrics = ["lora_rssi_dbm", "lora_snr_db", "lora_gateways", "lora_f_cnt"]

    public let server: Server
    public init(_ server: Server) { self.server = server }

    /// Appends the uplink's readings to `out` (nothing on error) and returns its frame.
    /// `devices`: the catalogue's stations by device, keyed `eui:<lower-case EUI>` and
    /// `id:<device id>`.
    public func decode(_ payload: UnsafeRawBufferPointer, context: DecodeContext, devices: [String: String],
                       into out: inout [Reading]) throws(DecodeError) -> Frame {
        guard case .object(let root) = try JSONScanner.parse(payload) else {
            throw .init("bad_lorawan", "a \(server.rawValue) uplink is a JSON object")
        }
        let mark = out.count
        do throws(DecodeError) {
            return try server == .chirpstack ? chirpstack(root, context, devices, &out) : ttn(root, context, devices, &out)
        } catch {
            out.removeSubrange(mark...)
            throw error
        }
    }

    private func chirpstack(_ root: [String: JSONValue], _ context: DecodeContext, _ devices: [String: String],
                            _ out: inout [Reading]) throws(DecodeError) -> Frame {
        guard case .object(let info)? = root["deviceInfo"], case .string(let eui)? = info["devEui"], !eui.isEmpty else {
            throw .init("bad_lorawan", "no deviceInfo.devEui: not a ChirpStack v4 uplink event")
        }
        // Join, status, log and acknowledgement events name the device too; an uplink has its
        // reception (or at least its frame).
        guard root["rxInfo"] != nil || root["fCnt"] != nil || root["fPort"] != nil || root["object"] != nil || root["data"] != nil else {
            throw .init("bad_lorawan", "not an uplink event (no rxInfo, fCnt, fPort, object or data): subscribe to .../event/up")
        }
        let sensor = devices["eui:" + eui.lowercased()] ?? eui.lowercased()
        let received = try Self.time(root["time"], "time")
        let link = Link(root["rxInfo"])
        let counter = try Self.counter(root["fCnt"], "fCnt")
        try readings(sensor: sensor, decoded: root["object"], received: received, link: link, counter: counter,
                     context: context, into: &out)
        var session = ""
        if case .string(let a)? = root["devAddr"] { session = a }
        return Frame(device: sensor, session: session, counter: counter, received: received ?? context.now)
    }

    private func ttn(_ root: [String: JSONValue], _ context: DecodeContext, _ devices: [String: String],
                     _ out: inout [Reading]) throws(DecodeError) -> Frame {
        guard case .object(let ids)? = root["end_device_ids"], case .string(let deviceID)? = ids["device_id"], !deviceID.isEmpty else {
            throw .init("bad_lorawan", "no end_device_ids.device_id: not a The Things Stack uplink")
        }
        guard case .object(let up)? = root["uplink_message"] else {
            throw .init("bad_lorawan", "no uplink_message: not an uplink (subscribe to v3/+/devices/+/up)")
        }
        var sensor = devices["id:" + deviceID] ?? deviceID
        if case .string(let eui)? = ids["dev_eui"], !eui.isEmpty {
            sensor = devices["eui:" + eui.lowercased()] ?? devices["id:" + deviceID] ?? eui.lowercased()
        }
        var received = try Self.time(up["received_at"], "uplink_message.received_at")
        if received == nil { received = try Self.time(root["received_at"], "received_at") }
        let link = Link(up["rx_metadata"])
        let counter = try Self.counter(up["f_cnt"], "uplink_message.f_cnt")
        try readings(sensor: sensor, decoded: up["decoded_payload"], received: received, link: link, counter: counter,
                     context: context, into: &out)
        var session = ""
        if case .string(let k)? = up["session_key_id"] { session = k } else if case .string(let a)? = ids["dev_addr"] { session = a }
        return Frame(device: sensor, session: session, counter: counter, received: received ?? context.now)
    }

    /// The decoded payload's numeric leaves and the link metrics, at the payload's own time
    /// or the server's receive time (else the arrival time).
    /// The gateways that heard an uplink, and the best of them (the strongest signal): its
    /// RSSI and SNR (servers omit fields at zero: an SNR not given is 0).
    struct Link {
        var gateways = 0
        var rssi: Double?
        var snr: Double?

        init(_ rx: JSONValue?) {
            guard case .array(let list)? = rx else { return }
            for case .object(let r) in list {
                gateways += 1
                guard case .number(let v)? = r["rssi"], v > (rssi ?? -.infinity) else { continue }
                rssi = v
                if case .number(let s)? = r["snr"] { snr = s } else { snr = 0 }
            }
        }
    }

    private func readings(sensor: String, decoded: JSONValue?, received: EpochMillis?, link: Link, counter: Int64,
                          context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        var values: [(String, Double)] = []
        var time = received ?? context.now
        switch decoded {
        case nil, .null?:
            break   // no codec: the link metrics alone
        case .object(let o)?:
            for key in ["ts", "time"] {
                guard let v = o[key] else { continue }
                switch v {
                case .number(let x):
                    guard let t = TimestampParser.epoch(x) else { throw .badTime("decoded \"\(key)\" \(x) is not a usable epoch time") }
                    time = t
                case .string(let s):
                    guard let t = TimestampParser.rfc3339(s) else { throw .badTime("decoded \"\(key)\" '\(s.prefix(40))' is not RFC 3339") }
                    time = t
                default:
                    throw .badTime("decoded \"\(key)\" is neither a number nor an RFC 3339 string")
                }
                break
            }
            Self.flatten(o, prefix: "", skipping: ["ts", "time"], into: &values)
        default:
            throw .init("bad_lorawan", "the decoded payload is not a JSON object")
        }
        if let rssi = link.rssi { values.append(("lora_rssi_dbm", rssi)) }
        if let snr = link.snr { values.append(("lora_snr_db", snr)) }
        values.append(("lora_gateways", Double(link.gateways)))
        values.append(("lora_f_cnt", Double(counter)))
        try context.check(time)
        guard values.count <= context.maxReadings else {
            throw .tooLarge("more than \(context.maxReadings) readings in one message")
        }
        for (metric, v) in values {
            guard v.isFinite else { throw .badValue("\"\(metric)\" is not a finite number") }
            do {
                out.append(Reading(series: try SeriesName(sensor: sensor, metric: metric), time: time, value: v))
            } catch {
                throw .badName("device \(SeriesName.clip(sensor)): \(error.message)")
            }
        }
    }

    /// Numeric leaves of a decoded payload, nested keys joined with `.` (arrays, strings,
    /// booleans and nulls are not readings).
    static func flatten(_ o: [String: JSONValue], prefix: String, skipping: Set<String>, into out: inout [(String, Double)]) {
        for (key, value) in o.sorted(by: { $0.key < $1.key }) where !(prefix.isEmpty && skipping.contains(key)) {
            switch value {
            case .number(let x): out.append((prefix + key, x))
            case .object(let inner): flatten(inner, prefix: prefix + key + ".", skipping: [], into: &out)
            default: break
            }
        }
    }

    static func time(_ v: JSONValue?, _ name: String) throws(DecodeError) -> EpochMillis? {
        guard let v else { return nil }
        guard case .string(let s) = v, let t = TimestampParser.rfc3339(s) else {
            throw .badTime("\(name) is not an RFC 3339 time")
        }
        return t
    }

    static func counter(_ v: JSONValue?, _ name: String) throws(DecodeError) -> Int64 {
        guard let v else { return 0 }
        guard case .number(let x) = v, x >= 0, x < 4_294_967_296, x == x.rounded() else {
            throw .init("bad_lorawan", "\(name) is not a frame counter (0 to 2^32 - 1)")
        }
        return Int64(x)
    }
}

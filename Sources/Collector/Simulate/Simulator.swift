import CMosquitto
import Foundation
import Synchronization
import Telemetry

/// Set by SIGINT/SIGTERM: the simulator flushes what it holds and stops.
let simulatorStop = Atomic<Bool>(false)

/// A field-gateway simulator: plays the catalogue's sensors (or a filtered part) over MQTT
/// through libmosquitto, in real or accelerated time, with a scenario (see `Scenario`).
///
/// Simulated time runs from `start` to `end` at `speed` x the wall clock; each sensor reports
/// every catalogue interval, at a fixed per-sensor phase. Without `batch` each sensor's sample
/// is one message on `<prefix>/<sensor>`; with `batch: N` the readings go out in packs of N per
/// unit gateway on `<prefix>/gw-<unit>`, as gateways send them. With `format: chirpstack`
/// each sample is a ChirpStack v4 uplink event on `<prefix>/device/<devEUI>/event/up`, as a
/// LoRaWAN network server publishes it (the catalogue's `dev_eui`, else one made from the id).
final class Simulator {
    struct Options: Sendable {
        /// The broker, or the nodes of a cluster: the next one after each lost connection.
        var urls = [CollectorConfig.BrokerURL(tls: false, host: "127.0.0.1", port: 1883)]
        var clientID = "simulator-1"
        var qos: Int32 = 1
        var format: Format = .json
        var batch: Int?
        var seed: UInt64 = 1
        var speed: Double = 1
        var start: EpochMillis = 0
        var end: EpochMillis = .max
        var prefix = "telemetry"
        var maxInflight = 10_000
        var progress = true
    }

    enum Format: String, Sendable, CaseIterable { case json, senml, influx, chirpstack }

    struct Summary: Sendable {
        var readings = 0
        var messages = 0
        var duplicates = 0
        var heldBack = 0
        var acknowledged = 0
        var seconds = 0.0
        var simulatedFrom: EpochMillis = 0
        var simulatedTo: EpochMillis = 0
    }

    private struct Sample {
        var sensor: Int
        var time: EpochMillis
        var values: [(String, Double)]
    }

    private let options: Options
    private let sensors: [SensorEntry]
    private let metricNames: [[String]]
    private let model: SignalModel
    private let scenario: Scenario
    private var client: MosquittoClient!
    private let events = MosquittoClient.Events()
    private var connected = false
    private var connectError: Int32?
    private var acked = 0
    /// Message ids sent and not yet acknowledged (a resend after a reconnect keeps its id).
    private var outstanding = Set<Int32>()
    private var lastReconnect = ContinuousClock.now
    /// The broker in `options.urls` in use.
    private var current = 0
    private var url: CollectorConfig.BrokerURL { options.urls[current] }
    /// Publishes since libmosquitto's loop last ran (`publish` runs it every `pumpEvery`).
    private var sincePump = 0
    private static let pumpEvery = 32
    private var summary = Summary()
    private var packs: [String: [(sensor: Int, time: EpochMillis, metric: String, value: Double)]] = [:]
    private var held: [Sample] = []
    private var rng: SplitMix64

    init(options: Options, sensors: [SensorEntry], catalogue: Catalogue, scenario: Scenario) {
        self.options = options
        self.sensors = sensors
        self.scenario = scenario
        metricNames = sensors.map { $0.metrics.keys.sorted() }
        let customers = Dictionary(grouping: catalogue.sensors.filter {
            $0.zone != nil && (($0.kind == .meter && $0.role != .feeder) || ($0.kind == .water && $0.role == .customer))
        }, by: { $0.zone! })
        model = SignalModel(seed: options.seed, scenario: scenario, customers: customers)
        rng = SplitMix64(seed: options.seed)
    }

    /// Readings per simulated second over the selected sensors.
    static func readingsPerSecond(_ sensors: [SensorEntry]) -> Double {
        sensors.reduce(0) { $0 + Double(max($1.metrics.count, 1)) * 1000 / Double(max($1.intervalMillis, 1)) }
    }

    func run() throws -> Summary {
        try connect()
        let wallStart = ContinuousClock.now
        let step = sensors.map(\.intervalMillis).reduce(0) { Self.gcd($0, $1) }
        precondition(step > 0)
        // Sensors by (interval in steps, phase slot): at step m, those with m % k == slot report.
        var groups: [Int64: [Int64: [Int]]] = [:]
        for (i, s) in sensors.enumerated() {
            let k = s.intervalMillis / step
            // A transformer's meters read together (its own meter sums its customers' readings).
            let slot = Int64(model.unit(s.kind == .meter ? s.zone ?? s.id : s.id, "phase", 0) * Double(k))
            groups[k, default: [:]][slot, default: []].append(i)
        }
        let first = (options.start + step - 1) / step
        summary.simulatedFrom = options.start
        var m = first
        var lastProgress = wallStart
        while !simulatorStop.load(ordering: .relaxed) {
            let t = m * step
            if t >= options.end { break }
            // Pace: step m is due at wallStart + (t - start) / speed.
            let due = wallStart + .milliseconds(Int64(Double(t - options.start) / options.speed))
            while ContinuousClock.now < due && !simulatorStop.load(ordering: .relaxed) {
                pump(waitMillis: Int32(max(1, min(100, (ContinuousClock.now.duration(to: due).components.attoseconds / 1_000_000_000_000_000)))))
            }
            for (k, slots) in groups {
                guard let list = slots[m % k] else { continue }
                for i in list { emit(i, at: t) }
            }
            summary.simulatedTo = t
            m += 1
            if options.progress, ContinuousClock.now - lastProgress > .seconds(5) {
                lastProgress = ContinuousClock.now
                let secs = Double((ContinuousClock.now - wallStart).components.seconds)
                FileHandle.standardError.write(Data("simulate: at \(Self.iso(t)), \(summary.readings) readings, \(Int(Double(summary.readings) / max(secs, 0.001))) readings/s\n".utf8))
            }
        }
        flushPacks()
        replayHeld()
        finish()
        let d = ContinuousClock.now - wallStart
        summary.seconds = d.inSeconds
        summary.acknowledged = acked
        return summary
    }

    // MARK: Readings

    private func emit(_ i: Int, at t: EpochMillis) {
        let s = sensors[i]
        let effect = scenario.effect(on: s, at: t)
        if effect.silent { return }
        let values = metricNames[i].compactMap { m in model.value(s, m, at: t).map { (m, $0) } }
        guard !values.isEmpty else { return }
        let sample = Sample(sensor: i, time: t, values: values)
        if effect.buffered {
            held.append(sample)
            summary.heldBack += values.count
            return
        }
        send(sample)
    }

    private func send(_ sample: Sample) {
        summary.readings += sample.values.count
        if let n = options.batch {
            let gw = sensors[sample.sensor].unit
            for (metric, v) in sample.values {
                packs[gw, default: []].append((sample.sensor, sample.time, metric, v))
                if packs[gw]!.count >= n { flush(gw) }
            }
        } else if options.format == .chirpstack {
            let (topic, payload) = uplink(sample)
            publish(topic, payload)
        } else {
            publish("\(options.prefix)/\(sensors[sample.sensor].id)",
                    encode(sample.values.map { (sample.sensor, sample.time, $0.0, $0.1) }))
        }
    }

    /// Each device's frame counter.
    private var frameCounters: [Int: Int] = [:]

    /// A sample as a ChirpStack v4 uplink event: the decoded payload in `object`, one
    /// gateway's reception, the device's next frame counter.
    private func uplink(_ sample: Sample) -> (topic: String, payload: [UInt8]) {
        let s = sensors[sample.sensor]
        let eui = s.devEUI ?? Self.madeUpEUI(s.id)
        let fCnt = frameCounters[sample.sensor, default: 0]
        frameCounters[sample.sensor] = fCnt + 1
        let object = sample.values.map { "\"\($0.0)\":\(JSONText.number($0.1))" }.joined(separator: ",")
        let rssi = -80 - Int(rng.next() % 35), snr = Double(Int(rng.next() % 200) - 100) / 10
        let json = #"{"deduplicationId":"\#(eui)-\#(fCnt)","time":"\#(Self.iso(sample.time))","#
            + #""deviceInfo":{"deviceName":"\#(s.id)","devEui":"\#(eui)"},"devAddr":"\#(eui.suffix(8))","fCnt":\#(fCnt),"fPort":2,"#
            + #""object":{\#(object)},"rxInfo":[{"gatewayId":"aa555a\#(eui.prefix(10))","rssi":\#(rssi),"snr":\#(snr)}]}"#
        return ("\(options.prefix)/device/\(eui)/event/up", Array(json.utf8))
    }

    /// A stable EUI for a station without one (16 hex digits from its id).
    static func madeUpEUI(_ id: String) -> String {
        let hex = String(StableHash.fnv1a(id), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// link-loss: the gateway's backlog, shuffled, 5 % of it twice.
    private func replayHeld() {
        guard !held.isEmpty else { return }
        var backlog = held
        backlog.shuffle(using: &rng)
        var extra: [Sample] = []
        for s in backlog where Double(rng.next() % 10_000) < 500 {
            extra.append(s)
            summary.duplicates += s.values.count
        }
        backlog.insert(contentsOf: extra, at: 0)
        backlog.shuffle(using: &rng)
        FileHandle.standardError.write(Data("simulate: link back, replaying \(backlog.count) held samples out of order (\(extra.count) twice)\n".utf8))
        for s in backlog { send(s) }
        flushPacks()
    }

    private func flushPacks() { for gw in packs.keys.sorted() { flush(gw) } }

    private func flush(_ gw: String) {
        guard let pack = packs[gw], !pack.isEmpty else { return }
        packs[gw] = []
        publish("\(options.prefix)/gw-\(gw)", encode(pack))
    }

    /// One message's payload in the chosen format (`chirpstack`: `uplink`).
    private func encode(_ rs: [(sensor: Int, time: EpochMillis, metric: String, value: Double)]) -> [UInt8] {
        var out = ""
        switch options.format {
        case .json:
            // One object per (sensor, time): {"sensor": ..., "ts": ..., metric: value, ...}
            var objects: [String] = []
            var i = 0
            while i < rs.count {
                var j = i
                var fields = ["\"sensor\":\"\(sensors[rs[i].sensor].id)\"", "\"ts\":\(JSONText.seconds(rs[i].time))"]
                while j < rs.count && rs[j].sensor == rs[i].sensor && rs[j].time == rs[i].time {
                    fields.append("\"\(rs[j].metric)\":\(JSONText.number(rs[j].value))")
                    j += 1
                }
                objects.append("{" + fields.joined(separator: ",") + "}")
                i = j
            }
            out = objects.count == 1 && options.batch == nil ? objects[0] : "[" + objects.joined(separator: ",") + "]"
        case .senml:
            let base = rs.map(\.time).min() ?? 0
            var records: [String] = []
            for (k, r) in rs.enumerated() {
                var rec = "\"n\":\"\(sensors[r.sensor].id)/\(r.metric)\",\"v\":\(JSONText.number(r.value))"
                rec += k == 0 ? ",\"bt\":\(JSONText.seconds(base))" : ""
                if r.time != base { rec += ",\"t\":\(JSONText.seconds(r.time - base))" }
                records.append("{" + rec + "}")
            }
            out = "[" + records.joined(separator: ",") + "]"
        case .influx, .chirpstack:
            var lines: [String] = []
            var i = 0
            while i < rs.count {
                var j = i
                var fields: [String] = []
                while j < rs.count && rs[j].sensor == rs[i].sensor && rs[j].time == rs[i].time {
                    fields.append("\(rs[j].metric)=\(JSONText.number(rs[j].value))")
                    j += 1
                }
                let s = sensors[rs[i].sensor]
                lines.append("\(s.kind.rawValue),sensor=\(s.id),unit=\(s.unit) \(fields.joined(separator: ",")) \(rs[i].time * 1_000_000)")
                i = j
            }
            out = lines.joined(separator: "\n")
        }
        return Array(out.utf8)
    }

    // MARK: MQTT

    private func connect() throws {
        events.onConnect = { [unowned self] rc in
            if rc == 0 { connected = true } else { connectError = rc }
        }
        events.onPublish = { [unowned self] mid in
            if outstanding.remove(mid) != nil { acked += 1 }
        }
        // QoS 1: a persistent session, so messages in flight when the broker goes away are sent again.
        client = try MosquittoClient(clientID: options.clientID, cleanSession: options.qos == 0, events: events)
        try client.useMQTT311()
        // The first node that answers (every node of a cluster is tried once).
        for attempt in options.urls.indices {
            do { return try connect(to: attempt) } catch where attempt < options.urls.count - 1 {
                FileHandle.standardError.write(Data("simulate: \(error); trying \(options.urls[attempt + 1])\n".utf8))
            }
        }
    }

    private func connect(to index: Int) throws {
        current = index
        connected = false
        connectError = nil
        let rc = client.connect(host: url.host, port: Int32(url.port), keepalive: 30, sessionExpiry: nil)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw StartupError("cannot connect to \(url): \(MosquittoClient.describe(rc))")
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !connected && connectError == nil && ContinuousClock.now < deadline {
            let rc = client.loop(timeoutMillis: 100)
            if rc != MOSQ_ERR_SUCCESS.rawValue { throw StartupError("cannot connect to \(url): \(MosquittoClient.describe(rc))") }
        }
        if let e = connectError { throw StartupError("the broker refused the connection: \(MosquittoClient.describeConnack(e))") }
        guard connected else { throw StartupError("no answer from the broker at \(url) within 10 s") }
    }

    private func publish(_ topic: String, _ payload: [UInt8]) {
        while outstanding.count >= options.maxInflight && !simulatorStop.load(ordering: .relaxed) {
            pump(waitMillis: 10)
        }
        var mid: Int32 = 0
        var rc = client.publish(topic, payload, qos: options.qos, mid: &mid)
        while rc == MOSQ_ERR_NO_CONN.rawValue || rc == MOSQ_ERR_CONN_LOST.rawValue {
            // The broker went away: reconnect and go on (unacknowledged QoS 1 messages are resent).
            if simulatorStop.load(ordering: .relaxed) { return }
            pump(waitMillis: 100)
            rc = client.publish(topic, payload, qos: options.qos, mid: &mid)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            FileHandle.standardError.write(Data("simulate: publish failed: \(MosquittoClient.describe(rc))\n".utf8))
            return
        }
        summary.messages += 1
        if options.qos > 0 { outstanding.insert(mid) } else { acked += 1 }
        // `publish` writes the packet itself; the loop reads acknowledgements and writes what
        // a full socket held back. Run every few publishes, not after each: each run is a
        // select and a read.
        sincePump += 1
        if sincePump >= Self.pumpEvery { pump(waitMillis: 0) }
    }

    /// Lets libmosquitto write what is queued and read acknowledgements.
    private func pump(waitMillis: Int32) {
        sincePump = 0
        let rc = client.loop(timeoutMillis: waitMillis)
        guard rc == MOSQ_ERR_NO_CONN.rawValue || rc == MOSQ_ERR_CONN_LOST.rawValue else { return }
        if ContinuousClock.now - lastReconnect < .seconds(1) {
            Thread.sleep(forTimeInterval: Double(max(waitMillis, 10)) / 1000)
            return
        }
        lastReconnect = .now
        // The same session on the next node of a cluster (the only one, with one broker):
        // libmosquitto resends the unacknowledged QoS 1 messages there.
        current = (current + 1) % options.urls.count
        FileHandle.standardError.write(Data("simulate: connection lost; reconnecting to \(url)\n".utf8))
        _ = client.connect(host: url.host, port: Int32(url.port), keepalive: 30, sessionExpiry: nil)
    }

    private func finish() {
        // Every QoS 1 message acknowledged before leaving (resends included), within 2 minutes.
        let deadline = ContinuousClock.now + .seconds(120)
        while !outstanding.isEmpty && ContinuousClock.now < deadline { pump(waitMillis: 50) }
        _ = client.disconnect()
        for _ in 0..<10 where client.loop(timeoutMillis: 10) == MOSQ_ERR_SUCCESS.rawValue {}
    }

    // MARK: Helpers

    static func gcd(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : gcd(b, a % b) }

    static func iso(_ t: EpochMillis) -> String {
        Date(timeIntervalSince1970: Double(t) / 1000).formatted(.iso8601)
    }
}

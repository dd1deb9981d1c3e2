import Alerts
import CMosquitto
import Telemetry

/// What one MQTT message becomes: its readings bound into the batch, or a reason to
/// quarantine it whole. In order: the topic's and payload's size limits, the subscription
/// whose filter matches (its format, precision and topic pattern), the pattern's labels,
/// decoding, sensor ids reserved for derived series, unregistered sensors (when refused),
/// the rate of new series, and `limits.max_series`. The ingest loop's thread owns it.
struct MessageAdmission {
    private let config: CollectorConfig
    /// Parsed topic patterns, one per subscription.
    private let patterns: [TopicPattern]
    /// Catalogued sensor ids, when unregistered sensors are refused.
    private var registeredOnly: Set<String>?
    /// New series the network may still create (`limits.new_series_per_minute`).
    private var newSeries: NewSeriesBudget
    private let decoder = PayloadDecoder()
    /// SenML packs of the plain shape, read without the decoder's JSON tree, their readings
    /// named by index into the table's names.
    private var senml = SenMLNames()
    private var indexed: [IndexedReading] = []
    /// Per name of `senml`: its series id once bound (-1: not yet), and whether its sensor may
    /// send (0: not looked at yet, 1: yes, 2: refused: a reserved prefix, or not catalogued
    /// when unregistered sensors are refused); valid for `senmlGeneration` and the catalogue.
    private var senmlIDs: [Int32] = []
    private var senmlAdmits: [UInt8] = []
    private var senmlGeneration = -1
    private var scratch: [Reading] = []
    /// The catalogue's stations by LoRaWAN device (`eui:<hex>`, `id:<device id>`).
    private var devices: [String: String] = [:]
    /// LoRaWAN frames stored, and the ones bound into the batch not yet committed (recorded
    /// only once their commit is durable: a failed commit's frames come again).
    private var sessions = LoRaWANSessions()
    private var pendingFrames = LoRaWANSessions()
    /// The batch's frames in order (`pendingFrames` indexes them for the repeat check).
    private var pendingLog: [LoRaWANDecoder.Frame] = []

    init(config: CollectorConfig, catalogue: Catalogue) {
        self.config = config
        patterns = config.mqtt.subscriptions.map(\.pattern)
        newSeries = NewSeriesBudget(perMinute: config.limits.newSeriesPerMinute)
        catalogueChanged(catalogue)
    }

    /// A new catalogue (SIGHUP).
    mutating func catalogueChanged(_ catalogue: Catalogue) {
        registeredOnly = config.unregisteredSensors == .reject ? Set(catalogue.sensors.map(\.id)) : nil
        var d: [String: String] = [:]
        for s in catalogue.sensors {
            if let e = s.devEUI { d["eui:" + e] = s.id }
            if let i = s.deviceID { d["id:" + i] = s.id }
        }
        devices = d
        senmlGeneration = -1   // (whether a sensor is registered may have changed)
    }

    /// The batch committed: its LoRaWAN frames are stored.
    mutating func framesCommitted() {
        for f in pendingLog { sessions.record(f) }
        framesDropped()
    }

    /// The batch's commit failed: its frames will come again.
    mutating func framesDropped() {
        guard !pendingLog.isEmpty else { return }
        pendingLog.removeAll(keepingCapacity: true)
        pendingFrames = LoRaWANSessions()
    }

    /// Binds the message's readings into `batch` (nil), or says why it is quarantined and
    /// under which topic (a topic over the limit is cut). `written`: a write over HTTP, in
    /// the format and precision its request names (no subscription, no topic pattern; the
    /// "topic" is its source, `http/<bucket>`, whose last level names sensors the payload
    /// does not).
    mutating func admit(topic: String, payload: UnsafeRawBufferPointer, now: EpochMillis, store: TelemetryStore,
                        into batch: inout IngestBatch,
                        written: (format: PayloadFormat, precision: TimePrecision)? = nil) -> (topic: String, error: DecodeError)? {
        let limits = config.limits
        if topic.utf8.count > limits.maxTopicBytes {
            return (String(topic.prefix(limits.maxTopicBytes)) + "…",
                    DecodeError("too_large", "topic of \(topic.utf8.count) bytes exceeds limits.max_topic_bytes (\(limits.maxTopicBytes))"))
        }
        if payload.count > limits.maxPayloadBytes {
            return (topic, DecodeError("too_large", "payload of \(payload.count) bytes exceeds limits.max_payload_bytes (\(limits.maxPayloadBytes))"))
        }
        let index = written == nil ? subscriptionIndex(for: topic) : nil
        let sub = index.map { config.mqtt.subscriptions[$0] }
        var context = DecodeContext(topic: topic, now: now, acceptAge: config.storage.acceptAgeMillis,
                                    maxReadings: limits.maxReadingsPerMessage)
        context.precision = written?.precision ?? sub?.precision ?? .ns
        let labels = index.map { patterns[$0].values(in: topic) } ?? TopicLabels()
        if let problem = Self.labelProblem(labels) { return (topic, DecodeError("bad_label", problem)) }
        context.patternSensor = labels.sensor
        scratch.removeAll(keepingCapacity: true)
        indexed.removeAll(keepingCapacity: true)
        let format = written?.format ?? sub?.format ?? .auto
        var frame: LoRaWANDecoder.Frame?
        do {
            if format == .chirpstack || format == .ttn {
                frame = try decoder.decodeUplink(payload, server: format == .ttn ? .ttn : .chirpstack, context: context,
                                                 devices: devices, into: &scratch)
            } else if format == .senml || format == .auto, senml.decode(payload, context: context, into: &indexed) {
                // A plain pack: the decoder's readings, names found by their bytes.
                if let bound = admitIndexed(labels: labels, now: now, store: store, into: &batch) { return bound ? nil : (topic, Self.seriesLimit(limits)) }
                // (A name refused, or few new series left: the readings go the general way.)
                scratch = indexed.map { Reading(series: senml.names[Int($0.name)], time: $0.time, value: $0.value) }
            } else {
                try decoder.decode(payload, format: format, context: context, into: &scratch)
            }
        } catch {
            return (topic, error)
        }
        // The same uplink again (its counter seen in the device's session): taken, not stored twice.
        if let frame, sessions.isRepeat(frame) || pendingFrames.isRepeat(frame) {
            batch.repeatedFrames += 1
            batch.acceptedMessages += 1
            return nil
        }
        if let r = scratch.first(where: { DerivedScope.isDerived($0.series.sensor) }) {
            return (topic, DecodeError("bad_name", "sensor id '\(r.series.sensor)' uses a prefix reserved for derived series (\(DerivedScope.prefixes.joined(separator: ", ")))"))
        }
        if let registeredOnly, let r = scratch.first(where: { !registeredOnly.contains($0.series.sensor) }) {
            return (topic, DecodeError("unregistered_sensor", "sensor '\(r.series.sensor)' is not in the catalogue (unregistered_sensors: reject)"))
        }
        // New series within limits.new_series_per_minute; the exact count of a message's new
        // series is only needed when its readings alone could exceed what is left.
        if !newSeries.allows(scratch.count, now: now) {
            let fresh = store.registry.unknownCount(scratch.lazy.map(\.series))
            if !newSeries.allows(fresh, now: now) {
                return (topic, DecodeError("series_rate", "\(fresh) new series would exceed limits.new_series_per_minute (\(limits.newSeriesPerMinute))"))
            }
        }
        let known = store.registry.count
        guard store.bind(scratch, labels: labels, into: &batch) else { return (topic, Self.seriesLimit(limits)) }
        if store.registry.count > known { newSeries.spend(store.registry.count - known, now: now) }
        if let frame {
            pendingFrames.record(frame)
            pendingLog.append(frame)
        }
        batch.acceptedMessages += 1
        return nil
    }

    private static func seriesLimit(_ limits: CollectorConfig.Limits) -> DecodeError {
        DecodeError("series_limit", "new series would exceed limits.max_series (\(limits.maxSeries))")
    }

    /// A plain SenML pack's readings (`indexed`) bound into `batch` by their names' indices,
    /// each name's checks and series id worked out once: true; false when new series would
    /// pass `limits.max_series`; nil, nothing bound, when a name is refused or the pack may
    /// hold more new series than `limits.new_series_per_minute` leaves (the general path
    /// then says why, as for any message).
    private mutating func admitIndexed(labels: TopicLabels, now: EpochMillis, store: TelemetryStore,
                                       into batch: inout IngestBatch) -> Bool? {
        if senml.generation != senmlGeneration {
            senmlIDs.removeAll()
            senmlAdmits.removeAll()
            senmlGeneration = senml.generation
        }
        let names = senml.names
        if senmlAdmits.count < names.count { senmlAdmits.append(contentsOf: repeatElement(0, count: names.count - senmlAdmits.count)) }
        for r in indexed {
            let k = Int(r.name)
            if senmlAdmits[k] == 0 {
                let sensor = names[k].sensor
                senmlAdmits[k] = DerivedScope.isDerived(sensor) || registeredOnly.map({ !$0.contains(sensor) }) == true ? 2 : 1
            }
            if senmlAdmits[k] == 2 { return nil }
        }
        guard newSeries.allows(indexed.count, now: now) else { return nil }
        let known = store.registry.count
        guard store.bind(indexed, names: names, ids: &senmlIDs, labels: labels, into: &batch) else { return false }
        if store.registry.count > known { newSeries.spend(store.registry.count - known, now: now) }
        batch.acceptedMessages += 1
        return true
    }

    /// Why a topic's `{unit}` or `{kind}` cannot label series (they must read like names).
    private static func labelProblem(_ labels: TopicLabels) -> String? {
        do throws(SeriesNameError) {
            if let d = labels.unit { try SeriesName.validateLabel(d, role: "topic level {unit}") }
            if let k = labels.kind { try SeriesName.validateLabel(k, role: "topic level {kind}") }
            return nil
        } catch {
            return error.message
        }
    }

    /// The first configured subscription whose filter matches `topic` (for its format and pattern).
    private func subscriptionIndex(for topic: String) -> Int? {
        if patterns.count == 1 { return 0 }
        for (i, p) in patterns.enumerated() {
            var matches = false
            if mosquitto_topic_matches_sub(p.filter, topic, &matches) == MOSQ_ERR_SUCCESS.rawValue, matches { return i }
        }
        return nil
    }
}

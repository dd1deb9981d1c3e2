import Alerts
import CMosquitto
import Foundation
import Logging
import Synchronization
import Telemetry

/// The at-least-once ingest loop, on a thread of its own (README, "Guarantees"):
///
///     poll the socket -> loop_read while readable (callbacks decode into a batch)
///     -> commit the batch to SQLite -> hand its new readings to the AlertWorker
///     -> loop_write (the queued PUBACKs leave) -> loop_misc
///
/// A PUBACK therefore leaves only after the readings it acknowledges are committed. If a
/// commit fails, the connection is cut without writing: the broker keeps the messages and
/// redelivers them to our persistent session; storage dedupes by (series, time).
final class IngestLoop: @unchecked Sendable {
    private let config: CollectorConfig
    private let store: TelemetryStore
    private let alerts: AlertWorker
    /// Series names already handed to the alert worker (ids below this).
    private var namesSent = 0
    private let status: CollectorStatus
    private let metrics: IngestMetrics
    private let clock: any WallClock
    private let logger: Logger
    private let events = MosquittoClient.Events()
    private let client: MosquittoClient
    /// Alerts leave on a connection of their own.
    private let publisher: AlertPublisher
    private let decoder = PayloadDecoder()
    private let stopRequested = Atomic<Bool>(false)
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let statusTopic: String
    /// Parsed topic patterns, one per subscription.
    private let patterns: [TopicPattern]
    /// Catalogued sensor ids, when unregistered sensors are refused.
    private var registeredOnly: Set<String>?
    private let pendingReload = Mutex<(Catalogue, [Rule])?>(nil)
    private let sessionExpiry: UInt32?

    // Loop-thread state.
    private var link = BrokerLink(now: .now)
    /// Writing committed readings to `raw` failed and has not succeeded since: storage is
    /// not ready, whatever the commits do.
    private var rawWriteFailing = false
    private var batch = IngestBatch()
    private var batchMessages = 0
    /// At most this many readings a commit (with `mqtt.max_batch_messages`): packs of many
    /// readings make short transactions too, so PUBACKs and alerts are not held back long.
    static let maxBatchReadings = 20_000
    /// The "offline" status publish that `finish()` waits for the broker to acknowledge.
    private var awaitedMid: Int32?
    private var batchStarted = ContinuousClock.now
    private var scratch: [Reading] = []
    private var logBudget = LogBudget()
    /// New series the network may still create (`limits.new_series_per_minute`).
    private var newSeries: NewSeriesBudget
    private var lastPrune: EpochMillis = 0
    /// Under load, commits keep their rollup deltas (`TelemetryStore.RollupMode.keep`): they go
    /// to the merger when the socket has nothing more to read, and at least this often.
    static let maxHandOffDelay: Duration = .milliseconds(200)
    /// Nothing read from the broker for this long: the link is idle.
    static let idleAfter: Duration = .seconds(1)
    private var lastRead = ContinuousClock.now
    private var lastHandOff = ContinuousClock.now
    /// Derived readings taken from the alert worker and not yet committed, and the journal row
    /// up to which their inputs' derived readings are in them or committed (the store's
    /// derived watermark, written with them).
    private var derivedCarry: [Reading] = []
    private var derivedUpTo: Int64?
    /// Whether `derivedCarry` is bound into `batch` (the watermark may go only with them).
    private var carryInBatch = false
    /// Fault injection for the tests (`COLLECTOR_FAULT_STOP_AFTER_COMMITS=N`, debug builds only):
    /// after the Nth commit of MQTT messages, before their PUBACKs leave, the process stops
    /// itself (SIGSTOP), so a test can kill it exactly inside the commit-to-acknowledgement window.
    #if DEBUG
    private var stopAfterCommits = ProcessInfo.processInfo.environment["COLLECTOR_FAULT_STOP_AFTER_COMMITS"].flatMap { Int($0) }
    #else
    private var stopAfterCommits: Int?
    #endif

    init(config: CollectorConfig, catalogue: Catalogue, store: TelemetryStore, alerts: AlertStage, status: CollectorStatus, metrics: IngestMetrics,
         clock: any WallClock, logger: Logger) throws {
        self.config = config
        newSeries = NewSeriesBudget(perMinute: config.limits.newSeriesPerMinute)
        self.store = store
        self.status = status
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
        let m = config.mqtt
        statusTopic = "collectors/\(m.clientID)/status"
        patterns = m.subscriptions.map(\.pattern)
        registeredOnly = config.unregisteredSensors == .reject ? Set(catalogue.sensors.map(\.id)) : nil
        sessionExpiry = m.protocolVersion == .v5 ? m.sessionExpirySeconds : nil
        client = try MosquittoClient(clientID: m.clientID, cleanSession: m.cleanSession, events: events)
        try client.configure(m)
        try client.setWill(topic: statusTopic, payload: "offline", qos: 1, retain: true)
        if m.url.tls && m.tlsInsecure { logger.warning("mqtt.tls_insecure is set: the broker's certificate is NOT verified") }
        publisher = try AlertPublisher(config: m, logger: logger)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw StartupError("cannot create the wake-up pipe") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        let wake = fds[1]
        self.alerts = AlertWorker(stage: alerts, samples: RecentSamples(pool: store.pool, pending: store.rawPending, capacity: config.storage.ringCapacity),
                                  clock: clock) {
            var b: UInt8 = 1
            _ = write(wake, &b, 1)
        }
        self.alerts.queueDepth = { metrics.alertQueue.set(to: Double($0)) }
        let backlog = metrics.rollupBacklog
        store.observeRollupBacklog { backlog.set(to: Double($0)) }
        alerts.alertCounts = { pending, firing in
            metrics.alerts(state: "pending", count: pending)
            metrics.alerts(state: "firing", count: firing)
        }
        alerts.gauge = { indicator, scope, value in
            metrics.registry.makeGauge(descriptor: IngestMetrics.coverage, labels: [("indicator", indicator), ("scope", scope)]).set(to: value)
        }
        // Called on the alert worker's thread: the publisher's own loop writes it at once.
        alerts.publish = { [publisher] topic, payload, retain in
            let rc = publisher.publish(topic, payload, retain: retain)
            metrics.alertPublished(ok: rc == MOSQ_ERR_SUCCESS.rawValue)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                logger.warning("cannot queue an alert message", metadata: ["topic": "\(topic)", "error": "\(MosquittoClient.describe(rc))"])
            }
        }
        // Every firing alert again after each (re)connection of the alert connection, so one
        // raised while the broker was unreachable is not missing from `alerts/#`.
        let worker = self.alerts
        publisher.onConnected = { worker.submit(.republishFiring) }
        events.onConnect = { [unowned self] rc in connected(rc) }
        events.onDisconnect = { [unowned self] rc in lost("disconnected: \(MosquittoClient.describe(rc))") }
        events.onMessage = { [unowned self] msg in received(msg) }
        events.onPublish = { [unowned self] mid in if mid == awaitedMid { awaitedMid = nil } }
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// A new catalogue and rules (SIGHUP), applied by the loop between two batches.
    func reload(catalogue: Catalogue, rules: [Rule]) {
        pendingReload.withLock { $0 = (catalogue, rules) }
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    /// A new cap on the database files (SIGHUP after `storage.max_size` changed): applied to
    /// the writer connections, so commits that failed on the old cap succeed on their next try.
    func setMaxSize(_ bytes: Int64) throws {
        try store.setMaxSize(bytes)
    }

    private func applyReload() {
        guard let (catalogue, rules) = pendingReload.withLock({ p in defer { p = nil }; return p }) else { return }
        link.reloaded(now: .now)   // it may have made room (storage.max_size): a failing store is tried again now
        registeredOnly = config.unregisteredSensors == .reject ? Set(catalogue.sensors.map(\.id)) : nil
        alerts.submit(.reload(catalogue, rules, now: clock.now()))
    }

    /// Asks the loop to finish: it commits what it holds, lets the PUBACKs out, and returns.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    /// Runs until `requestStop()`. Call on a dedicated thread.
    func run() {
        logger.info("ingest loop starting", metadata: ["broker": "\(config.mqtt.url)", "client_id": "\(config.mqtt.clientID)"])
        alerts.start()
        publisher.start()
        replayUnderivedJournal()
        while !stopRequested.load(ordering: .acquiring) {
            applyReload()
            if let retryAt = link.retryAt {
                let wait = ContinuousClock.now.duration(to: retryAt)
                if wait > .zero {
                    waitForWake(milliseconds: Int32(min(wait.components.seconds * 1000 + 1, 1000)))
                    // Time goes on without the broker: the worker's coverage readings are stored.
                    commitPending()
                    writeRawWhileIdle()
                    continue
                }
                connect()
                continue
            }
            iterate()
        }
        finish()
        logger.info("ingest loop stopped")
    }

    // MARK: Loop steps

    private func connect() {
        metrics.reconnects.increment()
        let u = config.mqtt.url
        let rc = client.connect(host: u.host, port: u.port, keepalive: config.mqtt.keepalive, sessionExpiry: sessionExpiry)
        if rc == MOSQ_ERR_SUCCESS.rawValue {
            link.connecting()
        } else {
            lost("cannot connect to \(u): \(MosquittoClient.describe(rc))", connectFailed: true)
        }
    }

    private func iterate() {
        let fd = client.socket
        guard fd >= 0 else { lost("socket closed"); return }
        var events = Int16(POLLIN)
        if client.wantsWrite { events |= Int16(POLLOUT) }
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: events, revents: 0)]
        _ = poll(&fds, 2, 1000)
        if fds[0].revents != 0 { drainWake() }
        if fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            lastRead = .now
            readWhileReadable(fd)
        }
        guard commitPending() else { return }
        if ContinuousClock.now - lastRead >= Self.idleAfter { writeRawWhileIdle() }
        pruneIfDue()
        if link.isDown { return }
        if client.wantsWrite {
            let rc = client.loopWrite()
            if rc != MOSQ_ERR_SUCCESS.rawValue { lost("write failed: \(MosquittoClient.describe(rc))"); return }
        }
        let rc = client.loopMisc()
        if rc != MOSQ_ERR_SUCCESS.rawValue { lost("keepalive: \(MosquittoClient.describe(rc))") }
    }

    /// Commits the batch: the messages read and the derived readings the alert worker handed
    /// back. False when a commit failed (the link is cut).
    @discardableResult
    private func commitPending() -> Bool {
        let (derived, upTo) = alerts.takeDerived()
        if let upTo { derivedUpTo = max(derivedUpTo ?? upTo, upTo) }
        // Kept until a commit holds them: a failed commit does not lose them (the broker
        // redelivers the messages, but nobody redelivers derived readings).
        // (A commit always follows a bind here, and resets `carryInBatch`: the carry is
        // never bound twice.)
        derivedCarry += derived
        if !derivedCarry.isEmpty && !carryInBatch {
            let count = derivedCarry.count
            let dropped = store.bindDerived(&derivedCarry, into: &batch)
            if dropped > 0 {
                metrics.derivedDropped.increment(by: Int64(dropped))
                if logBudget.allow() {
                    logger.warning("derived readings dropped: their new series would exceed limits.max_series and its reserve for derived series",
                                   metadata: ["dropped": "\(dropped)", "of": "\(count)", "reserve": "\(store.derivedReserve)"])
                }
            }
            carryInBatch = !derivedCarry.isEmpty
        }
        guard batchMessages > 0 || !batch.readings.isEmpty else {
            if store.hasUnhandedRollups { handOffRollups() }
            return true
        }
        return commit()
    }

    /// Readings a previous run committed but whose derived readings it did not commit (killed
    /// in between): fed to the alert worker again, from the journal, before anything new, so
    /// derived series are as durable as their inputs.
    private func replayUnderivedJournal() {
        // A chunk of rows at a time, the worker's queue bounded and the derived readings
        // committed between chunks: a large import waiting for its derived series does not
        // have to fit in memory.
        var cursor = store.derivedUpTo
        var (rowCount, readingCount) = (0, 0)
        while !stopRequested.load(ordering: .relaxed) {
            let rows: [(id: Int64, readings: [BoundReading])]
            do { rows = try store.journal(after: cursor, limit: 64) } catch {
                logger.error("cannot read the journal to recompute derived series", metadata: ["error": "\(error)"])
                return
            }
            guard let last = rows.last else { break }
            for row in rows {
                alerts.waitForRoom()
                // The worker learns the names of series it has not been told of with the first job that needs them.
                var names: [SeriesName] = []
                if namesSent < store.registry.count {
                    names = (namesSent..<store.registry.count).map { store.registry.name(of: SeriesID(Int32($0))) }
                    namesSent = store.registry.count
                }
                alerts.submit(.committed(row.readings, newNames: names, now: clock.now(), journalID: row.id))
                readingCount += row.readings.count
            }
            rowCount += rows.count
            cursor = last.id
            commitPending()
        }
        guard rowCount > 0 else { return }
        logger.notice("derived series recomputed for readings committed before the last stop",
                      metadata: ["journal_rows": "\(rowCount)", "readings": "\(readingCount)"])
    }

    private func readWhileReadable(_ fd: Int32) {
        var one = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let rc = client.loopRead()
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                lost("read failed: \(MosquittoClient.describe(rc))")
                return
            }
            if batchMessages >= config.mqtt.maxBatchMessages || batch.readings.count >= Self.maxBatchReadings { return }
            one[0].revents = 0
            if poll(&one, 1, 0) <= 0 || one[0].revents & Int16(POLLIN | POLLHUP | POLLERR) == 0 { return }
        }
    }

    /// Commits the batch and hands its new readings to the alert worker; on failure cuts the
    /// link so no PUBACK for it ever leaves.
    private func commit() -> Bool {
        alerts.waitForRoom()
        let started = ContinuousClock.now
        let keep = started - lastHandOff < Self.maxHandOffDelay && socketReadable()
        alerts.commitGate.lock()
        defer { alerts.commitGate.unlock() }
        do {
            // The watermark goes only with the derived readings it covers.
            let stats = try store.commit(batch, now: clock.now(), rollups: keep ? .keep : .handOff,
                                         derivedUpTo: derivedCarry.isEmpty || carryInBatch ? derivedUpTo : nil)
            if carryInBatch {
                derivedCarry.removeAll()
                carryInBatch = false
            }
            let committedAt = clock.now()
            var newNames: [SeriesName] = []
            if namesSent < store.registry.count {
                newNames = (namesSent..<store.registry.count).map { store.registry.name(of: SeriesID(Int32($0))) }
                namesSent = store.registry.count
            }
            alerts.submit(.committed(store.committed, newNames: newNames, now: committedAt, journalID: store.lastJournalID))
            if !store.hasUnhandedRollups { lastHandOff = ContinuousClock.now }
            metrics.commits.increment()
            metrics.lastCommit.set(to: Double(committedAt) / 1000)
            metrics.commitSeconds.record(ContinuousClock.now - started)
            metrics.batchReadings.record(Double(batch.readings.count))
            metrics.readingsInserted.increment(by: Int64(stats.inserted))
            metrics.readingsDuplicate.increment(by: Int64(stats.duplicates))
            metrics.messagesAccepted.increment(by: Int64(batch.acceptedMessages))
            metrics.messagesQuarantined.increment(by: Int64(batch.quarantine.count))
            for q in batch.quarantine { metrics.quarantined(reason: q.reason) }
            metrics.series.set(to: Double(store.registry.count))
            metrics.rawPending.set(to: Double(store.rawPendingCount))
            if batchMessages > 0 {
                metrics.queueDepth.set(to: Double(batchMessages))
                let lag = ContinuousClock.now - batchStarted
                metrics.loopLag.set(to: lag.inSeconds)
            }
            link.commitSucceeded()
            if !status.snapshot.storageOK && !rawWriteFailing {
                logger.notice("storage accepts commits again")
                status.storage(ok: true, "")
                alerts.submit(.storage(ok: true, reason: "", subject: config.mqtt.clientID, now: clock.now()))
            }
            if batchMessages > 0, let n = stopAfterCommits {
                stopAfterCommits = n > 1 ? n - 1 : nil
                if n == 1 {
                    logger.warning("fault injection: stopping after a commit, before its acknowledgements (COLLECTOR_FAULT_STOP_AFTER_COMMITS)")
                    raise(SIGSTOP)
                }
            }
            batch.removeAll()
            batchMessages = 0
            return true
        } catch {
            carryInBatch = false   // the batch is dropped; the carry waits for the next commit
            link.commitFailed()
            metrics.commitFailures.increment()
            logger.error("commit failed; withholding acknowledgements, the broker keeps the messages",
                         metadata: ["error": "\(error)", "messages": "\(batchMessages)"])
            status.storage(ok: false, "commit failed: \(StorageFailure.brief(error))")
            alerts.submit(.storage(ok: false, reason: "\(error)", subject: config.mqtt.clientID, now: clock.now()))
            batch.removeAll()
            batchMessages = 0
            client.abort()
            lost("storage commit failed")
            return false
        }
    }

    /// Hands the rollup deltas that commits kept to the merger. A failure loses nothing (the
    /// readings are in the journal); the next commit tries again.
    private func handOffRollups() {
        do {
            try store.handOffRollups()
            lastHandOff = ContinuousClock.now
        } catch {
            if logBudget.allow() { logger.warning("handing rollups to the merger failed; will retry", metadata: ["error": "\(error)"]) }
        }
    }

    /// The link is idle: the readings still waiting for `raw` are written, a slice at a time,
    /// until a message arrives (under load the commits write them at their pace).
    private func writeRawWhileIdle() {
        defer { metrics.rawPending.set(to: Double(store.rawPendingCount)) }
        while store.hasPendingRaw && !socketReadable() && !stopRequested.load(ordering: .relaxed) {
            do {
                try store.writePendingSlice()
                if rawWriteFailing {
                    rawWriteFailing = false
                    if !link.storageFailing && !status.snapshot.storageOK {
                        logger.notice("storage accepts writes again")
                        status.storage(ok: true, "")
                        alerts.submit(.storage(ok: true, reason: "", subject: config.mqtt.clientID, now: clock.now()))
                    }
                }
            } catch {
                if logBudget.allow() { logger.warning("writing raw readings failed; the journal keeps them, will retry", metadata: ["error": "\(error)"]) }
                // Committed readings are safe in the journal, but storage is failing: say so.
                rawWriteFailing = true
                status.storage(ok: false, "writing raw readings failed: \(StorageFailure.brief(error))")
                return
            }
        }
    }

    /// Merges every pending rollup delta and waits for it (at shutdown).
    private func mergeRollups() {
        do {
            try store.mergeRollups()
        } catch {
            logger.warning("merging rollups at shutdown failed; the journal keeps them for the next start", metadata: ["error": "\(error)"])
        }
    }

    /// True when the broker has sent more than we have read: the loop is busy.
    private func socketReadable() -> Bool {
        let fd = client.socket
        guard fd >= 0 else { return false }
        var one = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&one, 1, 0) > 0 && one.revents & Int16(POLLIN) != 0
    }

    private func finish() {
        if batchMessages > 0 { _ = commit() }
        if link.isUp {
            // The broker may still be pushing messages. Closing with them unread resets the
            // connection, and a reset can drop our last PUBACKs before the broker reads them:
            // it would redeliver what we stored. So go on as usual (read, commit, acknowledge)
            // until the broker acknowledges our "offline" status, sent after every PUBACK so
            // far and handled in order, or 2 s pass. Unread messages stay with the broker.
            var mid: Int32 = 0
            if client.publish(statusTopic, Array("offline".utf8), qos: 1, retain: true, mid: &mid) == MOSQ_ERR_SUCCESS.rawValue {
                awaitedMid = mid
                let deadline = ContinuousClock.now + .seconds(2)
                while awaitedMid != nil, ContinuousClock.now < deadline, link.isUp { iterate() }
                awaitedMid = nil
            }
            if batchMessages > 0 { _ = commit() }
        }
        // The alert worker's last derived readings (and theirs, a few levels deep) are stored too.
        for _ in 0..<3 {
            alerts.flush()
            guard alerts.hasDerived else { break }
            guard commitPending() else { break }
        }
        // And how far they go, so the next start does not recompute them.
        _ = commitPending()
        if derivedCarry.isEmpty, let upTo = derivedUpTo, upTo > store.derivedUpTo {
            do { try store.commit(IngestBatch(), now: clock.now(), rollups: .handOff, derivedUpTo: upTo) } catch {
                logger.warning("cannot record how far derived series are stored; the next start recomputes them", metadata: ["error": "\(error)"])
            }
        }
        alerts.stop()
        publisher.stop()
        if store.hasPendingRollups { mergeRollups() }
        if link.isUp {
            _ = client.disconnect()
            let deadline = ContinuousClock.now + .seconds(2)
            while client.wantsWrite, ContinuousClock.now < deadline, client.socket >= 0 {
                var fds = [pollfd(fd: client.socket, events: Int16(POLLOUT), revents: 0)]
                _ = poll(&fds, 1, 100)
                if client.loopWrite() != MOSQ_ERR_SUCCESS.rawValue { break }
            }
        }
        link.stopped(now: .now)
        status.mqtt(connected: false, "stopped")
        metrics.connected.set(to: 0)
    }

    // MARK: Callbacks (on this thread, inside loopRead)

    private func connected(_ rc: Int32) {
        guard rc == 0 else {
            lost("broker refused the connection: \(MosquittoClient.describeConnack(rc))")
            client.abort()
            return
        }
        link.connected()
        for s in config.mqtt.subscriptions {
            let rc = client.subscribe(s.subscribeTopic, qos: s.qos ?? config.mqtt.qos)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                logger.error("subscribe failed", metadata: ["topic": "\(s.topic)", "error": "\(MosquittoClient.describe(rc))"])
            }
        }
        _ = client.publish(statusTopic, Array("online".utf8), qos: 1, retain: true)
        publisher.reconnectSoon()   // the broker is back: the alert connection need not wait out its back-off
        status.mqtt(connected: true, "connected to \(config.mqtt.url)")
        metrics.connected.set(to: 1)
        logger.info("connected", metadata: ["broker": "\(config.mqtt.url)", "subscriptions": "\(config.mqtt.subscriptions.map(\.topic))"])
    }

    /// The link is down (or a connection attempt failed): marks it and schedules a reconnect
    /// with exponential back-off (`BrokerLink`).
    private func lost(_ reason: String, connectFailed: Bool = false) {
        guard let loss = link.lost(connectFailed: connectFailed, stopping: stopRequested.load(ordering: .acquiring), now: .now) else { return }
        if loss.wasUp || logBudget.allow() {
            logger.warning("mqtt link down; retrying", metadata: ["reason": "\(reason)", "retry_in_s": "\(loss.retryInSeconds)"])
        }
        status.mqtt(connected: false, reason)
        metrics.connected.set(to: 0)
    }

    private func received(_ msg: UnsafePointer<mosquitto_message>) {
        if batchMessages == 0 { batchStarted = .now }
        batchMessages += 1
        let m = msg.pointee
        let topic = m.topic.map { String(cString: $0) } ?? ""
        let payload = UnsafeRawBufferPointer(start: m.payload, count: Int(max(m.payloadlen, 0)))
        let now = clock.now()
        let limits = config.limits
        if topic.utf8.count > limits.maxTopicBytes {
            return quarantine(String(topic.prefix(limits.maxTopicBytes)) + "…", payload, now,
                              DecodeError("too_large", "topic of \(topic.utf8.count) bytes exceeds limits.max_topic_bytes (\(limits.maxTopicBytes))"))
        }
        if payload.count > limits.maxPayloadBytes {
            return quarantine(topic, payload, now, DecodeError("too_large", "payload of \(payload.count) bytes exceeds limits.max_payload_bytes (\(limits.maxPayloadBytes))"))
        }
        let index = subscriptionIndex(for: topic)
        let sub = index.map { config.mqtt.subscriptions[$0] }
        var context = DecodeContext(topic: topic, now: now, acceptAge: config.storage.acceptAgeMillis,
                                    maxReadings: limits.maxReadingsPerMessage)
        context.precision = sub?.precision ?? .ns
        let labels = index.map { patterns[$0].values(in: topic) } ?? TopicLabels()
        if let problem = Self.labelProblem(labels) { return quarantine(topic, payload, now, DecodeError("bad_label", problem)) }
        context.patternSensor = labels.sensor
        scratch.removeAll(keepingCapacity: true)
        do {
            try decoder.decode(payload, format: sub?.format ?? .auto, context: context, into: &scratch)
        } catch {
            return quarantine(topic, payload, now, error)
        }
        if let r = scratch.first(where: { DerivedScope.isDerived($0.series.sensor) }) {
            return quarantine(topic, payload, now, DecodeError("bad_name", "sensor id '\(r.series.sensor)' uses a prefix reserved for derived series (\(DerivedScope.prefixes.joined(separator: ", ")))"))
        }
        if let registeredOnly, let r = scratch.first(where: { !registeredOnly.contains($0.series.sensor) }) {
            return quarantine(topic, payload, now, DecodeError("unregistered_sensor", "sensor '\(r.series.sensor)' is not in the catalogue (unregistered_sensors: reject)"))
        }
        // New series within limits.new_series_per_minute; the exact count of a message's new
        // series is only needed when its readings alone could exceed what is left.
        if !newSeries.allows(scratch.count, now: now) {
            let fresh = store.registry.unknownCount(scratch.lazy.map(\.series))
            if !newSeries.allows(fresh, now: now) {
                return quarantine(topic, payload, now, DecodeError("series_rate", "\(fresh) new series would exceed limits.new_series_per_minute (\(limits.newSeriesPerMinute))"))
            }
        }
        let known = store.registry.count
        guard store.bind(scratch, labels: labels, into: &batch) else {
            return quarantine(topic, payload, now, DecodeError("series_limit", "new series would exceed limits.max_series (\(limits.maxSeries))"))
        }
        if store.registry.count > known { newSeries.spend(store.registry.count - known, now: now) }
        batch.acceptedMessages += 1
    }

    /// Why a topic's `{district}` or `{kind}` cannot label series (they must read like names).
    private static func labelProblem(_ labels: TopicLabels) -> String? {
        do throws(SeriesNameError) {
            if let d = labels.district { try SeriesName.validateLabel(d, role: "topic level {district}") }
            if let k = labels.kind { try SeriesName.validateLabel(k, role: "topic level {kind}") }
            return nil
        } catch {
            return error.message
        }
    }

    private func quarantine(_ topic: String, _ payload: UnsafeRawBufferPointer, _ now: EpochMillis, _ e: DecodeError) {
        batch.quarantine.append(QuarantineRecord(received: now, topic: topic, reason: e.reason, detail: e.detail, payload: payload))
        if logBudget.allow() {
            logger.warning("message quarantined", metadata: ["topic": "\(topic.prefix(200))", "reason": "\(e.reason)", "detail": "\(e.detail)"])
        }
    }

    // MARK: Helpers

    /// Once an hour: raw readings older than max(raw_retention, accept_age) go (they are the
    /// dedupe index, so they stay as long as a reading that old could still be accepted), and
    /// each rollup tier's buckets older than its retention.
    private func pruneIfDue() {
        let now = clock.now()
        guard now - lastPrune >= 3_600_000 else { return }
        lastPrune = now
        let keep = max(config.storage.rawRetentionMillis, config.storage.acceptAgeMillis)
        do {
            let n = try store.pruneRaw(before: now - keep)
            if n > 0 { logger.info("pruned raw readings", metadata: ["deleted": "\(n)", "older_than_days": "\(keep / 86_400_000)"]) }
        } catch {
            logger.warning("pruning raw readings failed; will retry in an hour", metadata: ["error": "\(error)"])
        }
        for tier in Tier.allCases {
            guard let keep = config.storage.rollupRetentionMillis[tier] ?? nil else { continue }
            do {
                let n = try store.pruneRollups(tier, before: now - keep)
                if n > 0 { logger.info("pruned rollup buckets", metadata: ["tier": "\(tier)", "deleted": "\(n)", "older_than_days": "\(keep / 86_400_000)"]) }
            } catch {
                logger.warning("pruning rollups failed; will retry in an hour", metadata: ["tier": "\(tier)", "error": "\(error)"])
            }
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

    private func waitForWake(milliseconds: Int32) {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if poll(&fds, 1, milliseconds) > 0 { drainWake() }
    }

    private func drainWake() {
        var buf = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buf, buf.count) > 0 {}
    }
}

/// At most a few log lines per second from floods of bad input or reconnects.
struct LogBudget {
    private var windowStart = ContinuousClock.now
    private var used = 0

    mutating func allow(perWindow limit: Int = 20) -> Bool {
        let now = ContinuousClock.now
        if now - windowStart > .seconds(10) { windowStart = now; used = 0 }
        used += 1
        return used <= limit
    }
}

/// A problem that stops the daemon from starting, with a message for the operator.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

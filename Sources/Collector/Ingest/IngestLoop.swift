import Alerts
import CMosquitto
import Foundation
import Logging
import Synchronization
import Telemetry

/// The at-least-once ingest loop, on a thread of its own (README, "Guarantees"):
///
///     poll the socket -> loop_read while readable (callbacks decode into a batch)
///     -> commit the batch ([the shared PostgreSQL store, then] SQLite)
///     -> hand its new readings to the AlertWorker
///     -> loop_write (the queued PUBACKs leave) -> loop_misc
///
/// A PUBACK therefore leaves only after the readings it acknowledges are committed. If a
/// commit fails, the connection is cut without writing: the broker keeps the messages and
/// redelivers them to our persistent session; storage dedupes by (series, time). Writes over
/// HTTP (`HTTPWrites`) join the same batches and are answered after the same commits.
final class IngestLoop: @unchecked Sendable {
    private let config: CollectorConfig
    private let store: TelemetryStore
    /// The shared PostgreSQL store (`storage.postgres`): every commit goes there first, fenced
    /// by the partition's token, then to `store`; the PUBACKs wait for both.
    private let shared: PostgresStore?
    /// Quarantine records the shared store holds and the file does not (a file commit failed after it).
    private var unfiled = UnfiledQuarantine()
    /// A connection of its own to the shared store for retention (off the ingest thread, so
    /// its deletes never queue the commits behind them).
    private let maintenance: PostgresStore?
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
    private let stopRequested = Atomic<Bool>(false)
    private let wake: WakePipe
    private let statusTopic: String
    private let pendingReload = Mutex<(Catalogue, [Rule])?>(nil)
    private let writes: HTTPWrites
    /// HTTP writes bound into the batch, answered when it commits.
    private var boundWrites: [(job: WriteJob, accepted: Int, refused: [WriteOutcome.RefusedLine])] = []
    private let sessionExpiry: UInt32?

    // Loop-thread state.
    private var link: BrokerLink
    /// This connection's SUBSCRIBEs until their SUBACKs: a refused one cuts the link.
    private var subscriptions = PendingSubscriptions()
    /// The partition's lease (nil: this collector is alone): only its holder connects and
    /// commits the partition's messages.
    private let lease: PartitionLease?
    /// With a shared store and a partition: the province's lease, whose holder computes the
    /// coverage indicators of the whole province (`PartitionLease.province`).
    private let province: PartitionLease?
    /// The fencing token the last catch-up from the shared store was for: a holder whose token
    /// differs (a takeover, a lease lost and taken again) catches up first (`catchUp`).
    private var caughtUpToken: UInt64?
    /// Set while a catch-up batch commits: it comes from the shared store, so it goes to the
    /// file only.
    private var fileOnly = false
    /// Writing committed readings to `raw` failed and has not succeeded since: storage is
    /// not ready, whatever the commits do.
    private var rawWriteFailing = false
    private var batch = IngestBatch()
    private var batchMessages = 0
    /// Of `batchMessages`, those read from MQTT (the rest are HTTP writes).
    private var batchMQTTMessages = 0
    /// Commits of MQTT messages so far (to tell whether any came after the "offline" status).
    private var messageCommits = 0
    private var policy: BatchPolicy
    private var admission: MessageAdmission
    private var carry = DerivedCarry()
    private var pruner: RetentionPruner
    /// The "offline" status publish that `finish()` waits for the broker to acknowledge.
    private var awaitedMid: Int32?
    private var batchStarted = ContinuousClock.now
    private var logBudget = LogBudget()
    /// Fault injection for the tests (`COLLECTOR_FAULT_STOP_AFTER_COMMITS=N`, debug builds only):
    /// after the Nth commit of MQTT messages, before their PUBACKs leave, the process stops
    /// itself (SIGSTOP), so a test can kill it exactly inside the commit-to-acknowledgement window.
    #if DEBUG
    private var stopAfterCommits = ProcessInfo.processInfo.environment["COLLECTOR_FAULT_STOP_AFTER_COMMITS"].flatMap { Int($0) }
    #else
    private var stopAfterCommits: Int?
    #endif

    init(config: CollectorConfig, catalogue: Catalogue, store: TelemetryStore, alerts: AlertStage, status: CollectorStatus, metrics: IngestMetrics,
         clock: any WallClock, logger: Logger, writes: HTTPWrites = HTTPWrites(), shared: PostgresStore? = nil, maintenance: PostgresStore? = nil) throws {
        self.config = config
        self.shared = shared
        self.maintenance = maintenance
        self.writes = writes
        policy = BatchPolicy(maxMessages: config.mqtt.maxBatchMessages, now: .now)
        link = BrokerLink(now: .now, brokers: config.mqtt.brokers.count)
        let wake = try WakePipe()
        self.wake = wake
        lease = config.partition.map { PartitionLease(config: $0, logger: logger, registry: metrics.registry) { wake.wake() } }
        province = shared == nil ? nil : config.partition.map { PartitionLease.province(of: $0, logger: logger, registry: metrics.registry) }
        admission = MessageAdmission(config: config, catalogue: catalogue)
        pruner = RetentionPruner(storage: config.storage)
        self.store = store
        self.status = status
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
        let m = config.mqtt
        statusTopic = "collectors/\(m.clientID)/status"
        sessionExpiry = m.protocolVersion == .v5 ? m.sessionExpirySeconds : nil
        client = try MosquittoClient(clientID: m.clientID, cleanSession: m.cleanSession, events: events)
        try client.configure(m)
        try client.setWill(topic: statusTopic, payload: "offline", qos: 1, retain: true)
        if m.url.tls && m.tlsInsecure { logger.warning("mqtt.tls_insecure is set: the broker's certificate is NOT verified") }
        // The members of a partition share the ingest session; each keeps an alert connection of its own.
        publisher = try AlertPublisher(config: m, clientID: m.clientID + "-alerts" + (config.partition.map { "-" + $0.member } ?? ""),
                                       logger: logger)
        writes.setWake { wake.wake() }
        self.alerts = AlertWorker(stage: alerts, samples: RecentSamples(pool: store.pool, pending: store.rawPending, capacity: config.storage.ringCapacity),
                                  clock: clock) { wake.wake() }
        self.alerts.queueDepth = { metrics.alertQueue.set(to: Double($0)) }
        if let lease { self.alerts.ticking = { lease.holds(at: .now) } }
        if let province {
            alerts.computesCoverage = { province.holds(at: .now) }
            alerts.provinceFence = {
                guard let token = province.token, province.holds(at: .now + province.commitMargin) else { return nil }
                return PostgresStore.Fence(partition: PostgresAlertStore.provinceOwner, token: token, holder: province.holder)
            }
        }
        // Alert changes over a shared store go under the leases' tokens, as held now (no
        // commit margin: a change a holder decided is not dropped for a lease renewed late;
        // the store's check stops it once a newer holder has written).
        if shared != nil, let lease, let partition = config.partition {
            alerts.alertFence = { [province] in
                func fence(_ l: PartitionLease?, _ name: String) -> PostgresStore.Fence? {
                    guard let l, let token = l.token, l.holds(at: .now) else { return nil }
                    return PostgresStore.Fence(partition: name, token: token, holder: l.holder)
                }
                return AlertFence(partition: fence(lease, partition.name), province: fence(province, PostgresAlertStore.provinceOwner))
            }
        }
        let backlog = metrics.rollupBacklog
        store.observeRollupBacklog { backlog.set(to: Double($0)) }
        alerts.alertCounts = { pending, firing in
            metrics.alerts(state: "pending", count: pending)
            metrics.alerts(state: "firing", count: firing)
        }
        let coverage = CoverageGauges(registry: metrics.registry)
        alerts.gauge = { indicator, scope, value in coverage.set(indicator, scope, value) }
        alerts.clearGauges = { coverage.clear() }
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
        events.onSubscribe = { [unowned self] mid, granted in subscribed(mid, granted) }
    }

    /// Whether this collector federates the shared store now (`remote_write`): the province
    /// lease's holder does; without one (no shared store, or no partitions), every collector.
    var federates: Bool { province?.holds(at: .now) ?? true }

    /// A new catalogue and rules (SIGHUP), applied by the loop between two batches.
    func reload(catalogue: Catalogue, rules: [Rule]) {
        pendingReload.withLock { $0 = (catalogue, rules) }
        wake.wake()
    }

    /// A new cap on the database files (SIGHUP after `storage.max_size` changed): applied to
    /// the writer connections, so commits that failed on the old cap succeed on their next try.
    func setMaxSize(_ bytes: Int64) throws {
        try store.setMaxSize(bytes)
    }

    private func applyReload() {
        guard let (catalogue, rules) = pendingReload.withLock({ p in defer { p = nil }; return p }) else { return }
        link.reloaded(now: .now)   // it may have made room (storage.max_size): a failing store is tried again now
        admission.catalogueChanged(catalogue)
        alerts.submit(.reload(catalogue, rules, now: clock.now()))
    }

    /// Asks the loop to finish: it commits what it holds, lets the PUBACKs out, and returns.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wake.wake()
    }

    /// Runs until `requestStop()`. Call on a dedicated thread.
    func run() {
        logger.info("ingest loop starting", metadata: ["brokers": "\(config.mqtt.brokers.map(\.description).joined(separator: ", "))",
                                                       "client_id": "\(config.mqtt.clientID)"])
        alerts.start()
        publisher.start()
        lease?.start()
        province?.start()
        replayUnderivedJournal()
        while !stopRequested.load(ordering: .acquiring) {
            applyReload()
            if let lease, !lease.holds(at: .now) {
                standBy(lease)
                continue
            }
            if shared != nil, let token = lease?.token, token != caughtUpToken, sharedFence() != nil {
                caughtUpToken = token   // (tried once per token: a failure is logged, not retried)
                catchUp()
                continue   // (the lease may have changed meanwhile)
            }
            if let retryAt = link.retryAt {
                let wait = ContinuousClock.now.duration(to: retryAt)
                if wait > .zero {
                    wake.wait(milliseconds: Int32(min(wait.components.seconds * 1000 + 1, 1000)))
                    // Time goes on without the broker: the worker's coverage readings (and
                    // writes over HTTP) are stored.
                    admitWrites()
                    commitPending()
                    writeRawWhileIdle()
                    pruneIfDue()
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

    /// The fence a commit to the shared store carries: the partition's fencing token while this
    /// collector holds its lease, with the commit's margin to spare (nil without a partition,
    /// or when not holding it). A batch of the partition's MQTT messages is committed only with
    /// it; anything else (HTTP writes, derived readings, a standby's province coverage) is not
    /// the partition's session and goes unfenced without it.
    private func sharedFence() -> PostgresStore.Fence? {
        guard let lease, let partition = config.partition, let token = lease.token,
              lease.holds(at: .now + lease.commitMargin) else { return nil }
        return PostgresStore.Fence(partition: partition.name, token: token, holder: lease.holder)
    }

    // MARK: Loop steps

    /// The broker the link uses now (one of a cluster's nodes, in turn after each loss).
    private var broker: CollectorConfig.BrokerURL { config.mqtt.brokers[link.broker] }

    private func connect() {
        metrics.reconnects.increment()
        let u = broker
        let rc = client.connect(host: u.host, port: u.port, keepalive: config.mqtt.keepalive, sessionExpiry: sessionExpiry)
        if rc == MOSQ_ERR_SUCCESS.rawValue {
            link.connecting()
        } else {
            lost("cannot connect to \(u): \(MosquittoClient.describe(rc))", connectFailed: true)
        }
    }

    /// Retention, once an hour (`RetentionPruner`): this collector's file, and the shared
    /// store by one collector, the province's holder (each when there are no partitions).
    private func pruneIfDue() {
        let prunesShared = province.map { $0.holds(at: .now) } ?? true
        pruner.runIfDue(now: clock.now(), store: store, shared: prunesShared ? maintenance : nil, logger: logger)
    }

    /// Not holding the partition's lease: the link stays cut (what was read and not committed
    /// stays with the broker for the holder), and the rest goes on (HTTP writes, derived series).
    private func standBy(_ lease: PartitionLease) {
        if !link.isDown {
            client.abort()
            lost("partition lease not held")
        }
        status.mqtt(connected: false, lease.describe(at: .now), standby: true)
        wake.wait(milliseconds: 200)
        admitWrites()
        commitPending()
        writeRawWhileIdle()
        pruneIfDue()
    }

    private func iterate() {
        let fd = client.socket
        guard fd >= 0 else { lost("socket closed"); return }
        var events = Int16(POLLIN)
        if client.wantsWrite { events |= Int16(POLLOUT) }
        var fds = [pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: events, revents: 0)]
        _ = poll(&fds, 2, 1000)
        if fds[0].revents != 0 { wake.drain() }
        if fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            policy.read(now: .now)
            readWhileReadable(fd)
        }
        admitWrites()
        guard commitPending() else { return }
        if policy.isIdle(now: .now) { writeRawWhileIdle() }
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
        carry.take(alerts.takeDerived())
        if !carry.corrections.isEmpty { commitCorrections() }
        if carry.isEmpty { alerts.derivedStored(generation: carry.generation) }
        // (A commit always follows a bind here, and settles the carry: it is never bound twice.)
        // Readings wait while corrections do: they came after them, and a correction stored
        // later would take them back.
        let count = carry.readings.count
        let dropped = carry.corrections.isEmpty ? carry.bindOnce { store.bindDerived(&$0, into: &batch) } : 0
        if dropped > 0 {
            metrics.derivedDropped.increment(by: Int64(dropped))
            if logBudget.allow() {
                logger.warning("derived readings dropped: their new series would exceed limits.max_series and its reserve for derived series",
                               metadata: ["dropped": "\(dropped)", "of": "\(count)", "reserve": "\(store.derivedReserve)"])
            }
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
        // Late inputs' recomputes wait for the end: the rows not fed yet are stored already.
        alerts.submit(.refeed(true))
        defer { alerts.submit(.refeed(false)) }
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

    /// On taking the partition over, with a shared store: the partition's readings of the
    /// last `partition.catch_up` that this collector's file lacks (each series from its newest
    /// reading in the file on) are read from the shared store, committed to the file and handed
    /// to the alert worker like any commit (as a refeed: late inputs' recomputes wait for its
    /// end), before the link connects. Rules and derived series that look back (24 h rain
    /// sums, fire danger) then start from the same past as the old holder's. The new token is
    /// recorded in the shared store first, so a commit the old holder still had under way
    /// lands before the read or fails. With a shared alert store, the alert worker has adopted
    /// the old holder's live alerts by then (`AlertStage.resumed`): the readings read back
    /// raise none of them again.
    private func catchUp() {
        guard let shared, let partition = config.partition, partition.catchUpMillis > 0, let fence = sharedFence() else { return }
        guard commitPending() else { return }   // (what waits has its own batch)
        let since = clock.now() - partition.catchUpMillis
        let started = ContinuousClock.now
        var (seriesCount, readingCount) = (0, 0)
        alerts.submit(.refeed(true))
        defer { alerts.submit(.refeed(false)) }
        do {
            try shared.commit([], fence: fence)
            let series = try shared.partitionSeries(partition.name, since: since)
            let names = Dictionary(series.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            // Each series from its newest reading in the file on; many series a statement and
            // a commit (at most 512 blocks, about 100 k readings), not a transaction each.
            var wanted = try series.map { (id: $0.id, from: max(since, (try store.newestTime(of: $0.name)).map { $0 + 1 } ?? since)) }
            var left: Set<SeriesName> = []
            var lastRun: SeriesID?
            var chunk = 256   // series a statement
            while !wanted.isEmpty {
                guard !stopRequested.load(ordering: .relaxed), lease?.holds(at: .now) == true else {
                    logger.warning("catch-up from the shared store cut short (stopping, or the lease was lost)",
                                   metadata: ["series": "\(seriesCount)", "readings": "\(readingCount)"])
                    return
                }
                let page = try shared.samples(of: wanted, series: chunk, blocks: 512)
                (wanted, chunk) = (page.rest, page.series)
                var bound = 0
                for run in page.runs where !run.samples.isEmpty {
                    guard let name = names[run.id], !left.contains(name) else { continue }
                    let readings = run.samples.map { Reading(series: name, time: $0.time, value: $0.value) }
                    guard store.bind(readings, into: &batch) else {
                        left.insert(name)
                        logger.warning("catch-up: a series of the partition would exceed limits.max_series; left out", metadata: ["series": "\(name)"])
                        continue
                    }
                    if run.id != lastRun { seriesCount += 1 }   // (a series cut between pages counts once)
                    lastRun = run.id
                    bound += readings.count
                }
                guard bound > 0 else { continue }
                fileOnly = true
                let ok = commit()
                fileOnly = false
                guard ok, commitPending() else { return }   // (and the derived readings they gave so far, to both stores)
                readingCount += bound
            }
        } catch {
            logger.warning("cannot catch up from the shared store; rules and derived series start from this collector's file",
                           metadata: ["partition": "\(partition.name)", "error": "\(error)"])
            return
        }
        logger.notice("partition caught up from the shared store", metadata: [
            "partition": "\(partition.name)", "series": "\(seriesCount)", "readings": "\(readingCount)",
            "seconds": "\((ContinuousClock.now - started).inSeconds)"])
    }

    private func readWhileReadable(_ fd: Int32) {
        var one = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let rc = client.loopRead()
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                lost("read failed: \(MosquittoClient.describe(rc))")
                return
            }
            if policy.isFull(messages: batchMessages, readings: batch.readings.count) { return }
            one[0].revents = 0
            if poll(&one, 1, 0) <= 0 || one[0].revents & Int16(POLLIN | POLLHUP | POLLERR) == 0 { return }
        }
    }

    /// Commits the batch and hands its new readings to the alert worker; on failure cuts the
    /// link so no PUBACK for it ever leaves.
    private func commit() -> Bool {
        alerts.waitForRoom()
        let started = ContinuousClock.now
        let keep = policy.keepsRollups(now: started, socketBusy: socketReadable())
        alerts.commitGate.lock()
        defer { alerts.commitGate.unlock() }
        // The lease read once: the check below and the shared store's fence agree.
        let fence = sharedFence()
        if batchMQTTMessages > 0, lease != nil, fence == nil {
            // The lease lapsed (or is about to) while these were read or waited (a paused or
            // cut-off holder): another collector may own the session now. Nothing is written,
            // nothing acknowledged; the broker redelivers to the holder. Checked last, just
            // before the commit, with a margin for the commit itself.
            logger.error("partition lease not held at commit: the batch is dropped, not acknowledged", metadata: ["messages": "\(batchMQTTMessages)"])
            dropBatch(reply: .unavailable("this collector does not hold its partition's lease"))
            client.abort()
            lost("partition lease not held")
            return false
        }
        // Quarantine records the shared store holds from an attempt whose file commit failed
        // go to the file only.
        let quarantinePlan = unfiled.plan(batch.quarantine, now: clock.now())
        var sharedCommitted = false
        do {
            // The shared store first: a crash between the two commits leaves readings the
            // broker redelivers, duplicates there and new here.
            if let shared, !fileOnly, !batch.isEmpty {
                try shared.commit(batch, registry: store.registry, quarantine: quarantinePlan.fresh, fence: fence)
                sharedCommitted = true
            }
            // The watermark goes only with the derived readings it covers.
            let stats = try store.commit(batch, now: clock.now(), rollups: keep ? .keep : .handOff, derivedUpTo: carry.watermark)
            if sharedCommitted { unfiled.bothCommitted(quarantinePlan, now: clock.now()) }
            carry.committed()
            let committedAt = clock.now()
            var newNames: [SeriesName] = []
            if namesSent < store.registry.count {
                newNames = (namesSent..<store.registry.count).map { store.registry.name(of: SeriesID(Int32($0))) }
                namesSent = store.registry.count
            }
            alerts.submit(.committed(store.committed, newNames: newNames, now: committedAt, journalID: store.lastJournalID))
            // (After them: the rules see a family's stored readings before its recompute.)
            if carry.isEmpty { alerts.derivedStored(generation: carry.generation) }
            if !store.hasUnhandedRollups { policy.handedOff(now: .now) }
            metrics.commits.increment()
            metrics.lastCommit.set(to: Double(committedAt) / 1000)
            metrics.commitSeconds.record(ContinuousClock.now - started)
            metrics.batchReadings.record(Double(batch.readings.count))
            metrics.readingsInserted.increment(by: Int64(stats.inserted))
            metrics.readingsDuplicate.increment(by: Int64(stats.duplicates))
            metrics.messagesAccepted.increment(by: Int64(batch.acceptedMessages))
            metrics.messagesQuarantined.increment(by: Int64(batch.quarantine.count))
            if batch.repeatedFrames > 0 { metrics.repeatedFrames.increment(by: Int64(batch.repeatedFrames)) }
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
            if batchMQTTMessages > 0 { messageCommits += 1 }
            batch.removeAll()
            batchMessages = 0
            batchMQTTMessages = 0
            for w in boundWrites { w.job.reply(.stored(accepted: w.accepted, refused: w.refused)) }
            boundWrites.removeAll()
            admission.framesCommitted()
            return true
        } catch {
            if sharedCommitted { unfiled.sharedOnly(quarantinePlan, now: clock.now()) }
            link.commitFailed()
            metrics.commitFailures.increment()
            logger.error("commit failed; withholding acknowledgements, the broker keeps the messages",
                         metadata: ["error": "\(error)", "messages": "\(batchMessages)"])
            status.storage(ok: false, "commit failed: \(StorageFailure.brief(error))")
            alerts.submit(.storage(ok: false, reason: "\(error)", subject: config.mqtt.clientID, now: clock.now()))
            dropBatch(reply: .unavailable("storage commit failed: \(StorageFailure.brief(error))"))
            client.abort()
            lost("storage commit failed")
            return false
        }
    }

    /// Commits the carried corrections of derived series (late inputs' recomputes) in a
    /// transaction of their own, before the derived readings taken with or after them. On
    /// failure they stay carried (and the watermark with them) for the next commit.
    private func commitCorrections() {
        alerts.commitGate.lock()
        defer { alerts.commitGate.unlock() }
        do {
            // Not holding its partition, a collector corrects nothing in the shared store: a
            // correction deletes, and this collector's file may lack what the holder stored.
            // The province-wide scopes' corrections are in the shared store already (the
            // province's holder stores them with its lease's token: `AlertStage`): here they
            // go to the file only.
            let fence = sharedFence()
            if let shared, lease == nil || fence != nil {
                try shared.replace(province == nil ? carry.corrections
                                                   : carry.corrections.filter { !DerivedScope.isProvinceWide($0.series.sensor) }, fence: fence)
            }
            let stored = try store.commitCorrections(carry.corrections, now: clock.now())
            carry.correctionsCommitted()
            metrics.derivedCorrections.increment(by: Int64(stored.count))
            // The worker learns of the correction's journal row (no readings in it), so the
            // derived watermark may pass it.
            var newNames: [SeriesName] = []
            if namesSent < store.registry.count {
                newNames = (namesSent..<store.registry.count).map { store.registry.name(of: SeriesID(Int32($0))) }
                namesSent = store.registry.count
            }
            alerts.submit(.committed([], newNames: newNames, now: clock.now(), journalID: store.lastJournalID))
        } catch {
            if logBudget.allow() {
                logger.warning("cannot store corrections of derived series; kept for the next commit",
                               metadata: ["series": "\(carry.corrections.count)", "error": "\(error)"])
            }
        }
    }

    /// Forgets the batch without committing it: its messages are never acknowledged (the broker
    /// keeps them), its HTTP writes get `reply`, its derived readings wait for the next commit.
    private func dropBatch(reply: WriteOutcome) {
        carry.failed()
        batch.removeAll()
        batchMessages = 0
        batchMQTTMessages = 0
        for w in boundWrites { w.job.reply(reply) }
        boundWrites.removeAll()
        admission.framesDropped()
    }

    /// Hands the rollup deltas that commits kept to the merger. A failure loses nothing (the
    /// readings are in the journal); the next commit tries again.
    private func handOffRollups() {
        do {
            try store.handOffRollups()
            policy.handedOff(now: .now)
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
        // Whether the broker has everything this collector acknowledged: then a partition's
        // lease is handed over at once, else it runs out.
        var offlineAcknowledged = false
        admitWrites()
        if batchMessages > 0 { _ = commit() }
        if link.isUp {
            // The broker may still be pushing messages. Closing with them unread resets the
            // connection, and a reset can drop our last PUBACKs before the broker reads them:
            // it would redeliver what we stored. So go on as usual (read, commit, acknowledge)
            // until the broker acknowledges our "offline" status, sent after every PUBACK so
            // far and handled in order, or 2 s pass. Unread messages stay with the broker.
            var mid: Int32 = 0
            let commitsBefore = messageCommits
            if client.publish(statusTopic, Array("offline".utf8), qos: 1, retain: true, mid: &mid) == MOSQ_ERR_SUCCESS.rawValue {
                awaitedMid = mid
                let deadline = ContinuousClock.now + .seconds(2)
                while awaitedMid != nil, ContinuousClock.now < deadline, link.isUp { iterate() }
                // Every PUBACK before it reached the broker, no commit came after it (its PUBACKs
                // would not be covered), and nothing read since waits to be committed.
                offlineAcknowledged = awaitedMid == nil && link.isUp && batchMQTTMessages == 0 && messageCommits == commitsBefore
                awaitedMid = nil
            }
            if batchMessages > 0 { _ = commit() }
        }
        // The alert worker's last derived readings (and theirs, a few levels deep) are stored
        // too, and the late inputs' recomputes, each once what its family derived before is;
        // the province's holder handles its last scope changes (while it still holds the lease).
        if province != nil { alerts.submit(.lastScopeRound) }
        for _ in 0..<8 {
            alerts.submit(.settle)
            alerts.flush()
            guard alerts.hasDerived else { break }
            guard commitPending() else { break }
        }
        // And how far they go, so the next start does not recompute them.
        _ = commitPending()
        if carry.isEmpty, let upTo = carry.upTo, upTo > store.derivedUpTo {
            do { try store.commit(IngestBatch(), now: clock.now(), rollups: .handOff, derivedUpTo: upTo) } catch {
                logger.warning("cannot record how far derived series are stored; the next start recomputes them", metadata: ["error": "\(error)"])
            }
        }
        // Writes that came after the last commit are not taken: their senders hear so.
        for job in writes.close() { job.reply(.unavailable("the collector is stopping")) }
        alerts.stop()
        publisher.stop()
        if store.hasPendingRollups { mergeRollups() }
        var flushed = false
        if link.isUp {
            _ = client.disconnect()
            let deadline = ContinuousClock.now + .seconds(2)
            while client.wantsWrite, ContinuousClock.now < deadline, client.socket >= 0 {
                var fds = [pollfd(fd: client.socket, events: Int16(POLLOUT), revents: 0)]
                _ = poll(&fds, 1, 100)
                if client.loopWrite() != MOSQ_ERR_SUCCESS.rawValue { break }
            }
            flushed = !client.wantsWrite
        }
        link.stopped(now: .now)
        lease?.stop(release: offlineAcknowledged && flushed)
        province?.stop(release: true)   // (nothing acknowledged hangs on it)
        status.mqtt(connected: false, "stopped")
        metrics.connected.set(to: 0)
    }

    /// Binds the writes queued over HTTP into the batch: line protocol line by line (a bad
    /// line quarantined and named, the others stored, as InfluxDB's partial writes), a SenML
    /// pack whole. They are answered when the batch commits.
    private func admitWrites() {
        for job in writes.take() {
            if batchMessages == 0 { batchStarted = .now }
            batchMessages += 1
            let now = clock.now()
            var accepted = 0
            var refused: [WriteOutcome.RefusedLine] = []
            job.payload.withUnsafeBytes { b in
                switch job.body {
                case .senml:
                    if let (topic, error) = admission.admit(topic: job.source, payload: b, now: now, store: store, into: &batch,
                                                            written: (.senml, .s)) {
                        quarantine(topic, b, now, error)
                        refused.append(.init(line: 1, error: error))
                    } else {
                        accepted += 1
                    }
                case .lineProtocol(let precision):
                    var start = 0, number = 1
                    while start < b.count {
                        let end = LineProtocolDecoder.lineEnd(b, from: start)
                        defer { start = end + 1; number += 1 }
                        var stop = end
                        if stop > start && b[stop - 1] == 0x0D { stop -= 1 }
                        let line = UnsafeRawBufferPointer(rebasing: b[start..<stop])
                        guard let first = line.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }), line[first] != 0x23 else { continue }
                        if let (topic, error) = admission.admit(topic: job.source, payload: line, now: now, store: store, into: &batch,
                                                                written: (.influx, precision)),
                           error.reason != "no_readings" {   // string fields only: nothing to store, nothing wrong
                            let numbered = Self.renumbered(error, line: number)
                            quarantine(topic, line, now, numbered)
                            refused.append(.init(line: number, error: numbered))
                        } else {
                            accepted += 1
                        }
                    }
                }
            }
            boundWrites.append((job, accepted, refused))
        }
    }

    /// A line's error as the body's line `number` (the decoder saw it as line 1).
    static func renumbered(_ e: DecodeError, line number: Int) -> DecodeError {
        if e.detail.hasPrefix("line 1,") || e.detail.hasPrefix("line 1:") {
            return DecodeError(e.reason, "line \(number)" + e.detail.dropFirst(6))
        }
        return DecodeError(e.reason, "line \(number): \(e.detail)")
    }

    // MARK: Callbacks (on this thread, inside loopRead)

    private func connected(_ rc: Int32) {
        guard rc == 0 else {
            lost("broker refused the connection: \(MosquittoClient.describeConnack(rc))")
            client.abort()
            return
        }
        link.connected()
        subscriptions.reset()
        for s in config.mqtt.subscriptions {
            let qos = s.qos ?? config.mqtt.qos
            var mid: Int32 = 0
            let rc = client.subscribe(s.subscribeTopic, qos: qos, mid: &mid)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                client.abort()
                lost("cannot subscribe to \(s.subscribeTopic): \(MosquittoClient.describe(rc))")
                return
            }
            subscriptions.sent(mid: mid, topic: s.subscribeTopic, qos: qos)
        }
        _ = client.publish(statusTopic, Array("online".utf8), qos: 1, retain: true)
        publisher.reconnectSoon()   // the broker is back: the alert connection need not wait out its back-off
        metrics.connected.set(to: 1)
        logger.info("connected", metadata: ["broker": "\(broker)", "subscriptions": "\(config.mqtt.subscriptions.map(\.topic))"])
        // Ready at the CONNACK, as a persistent session's backlog flows from then on (before
        // the SUBACKs, which may come behind it); a refused subscription undoes it.
        status.mqtt(connected: true, "connected to \(broker)" + (lease.map { "; " + $0.describe(at: .now) } ?? ""))
    }

    /// A SUBACK (`PendingSubscriptions`): a refused subscription cuts the link, and the loop
    /// connects again (to the next node).
    private func subscribed(_ mid: Int32, _ granted: [Int32]) {
        switch subscriptions.answered(mid: mid, granted: granted) {
        case .waiting, .unknown:
            return
        case .allGranted:
            logger.info("every subscription granted", metadata: ["broker": "\(broker)"])
        case .downgraded(let sent, let qos, _):
            logger.warning("the broker granted a lower QoS than asked for: its messages come without acknowledgement",
                           metadata: ["broker": "\(broker)", "topic": "\(sent.topic)", "asked": "\(sent.qos)", "granted": "\(qos)"])
        case .refused(let sent, let code):
            metrics.subscriptionsRefused.increment()
            logger.error("the broker refused a subscription; connecting again",
                         metadata: ["broker": "\(broker)", "topic": "\(sent.topic)", "qos": "\(sent.qos)",
                                    "code": "0x\(String(code, radix: 16))"])
            client.abort()
            lost("broker refused the subscription to \(sent.topic) (code 0x\(String(code, radix: 16)))")
        }
    }

    /// The link is down (or a connection attempt failed): marks it and schedules a reconnect
    /// with exponential back-off (`BrokerLink`).
    private func lost(_ reason: String, connectFailed: Bool = false) {
        let from = broker
        guard let loss = link.lost(connectFailed: connectFailed, stopping: stopRequested.load(ordering: .acquiring), now: .now) else { return }
        if loss.wasUp || logBudget.allow() {
            logger.warning("mqtt link down; retrying", metadata: ["broker": "\(from)", "reason": "\(reason)",
                                                                "next": "\(broker)", "retry_in_s": "\(loss.retryInSeconds)"])
        }
        status.mqtt(connected: false, reason)
        metrics.connected.set(to: 0)
    }

    private func received(_ msg: UnsafePointer<mosquitto_message>) {
        if batchMessages == 0 { batchStarted = .now }
        batchMessages += 1
        batchMQTTMessages += 1
        let m = msg.pointee
        let topic = m.topic.map { String(cString: $0) } ?? ""
        let payload = UnsafeRawBufferPointer(start: m.payload, count: Int(max(m.payloadlen, 0)))
        let now = clock.now()
        if let (topic, error) = admission.admit(topic: topic, payload: payload, now: now, store: store, into: &batch) {
            quarantine(topic, payload, now, error)
        }
    }

    private func quarantine(_ topic: String, _ payload: UnsafeRawBufferPointer, _ now: EpochMillis, _ e: DecodeError) {
        batch.quarantine.append(QuarantineRecord(received: now, topic: topic, reason: e.reason, detail: e.detail, payload: payload))
        if logBudget.allow() {
            logger.warning("message quarantined", metadata: ["topic": "\(topic.prefix(200))", "reason": "\(e.reason)", "detail": "\(e.detail)"])
        }
    }
}

/// A problem that stops the daemon from starting, with a message for the operator.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

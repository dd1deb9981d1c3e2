import Alerts
import Foundation
import Synchronization
import Telemetry

/// Runs the alert stage (rules, derived series, coverage) on a thread of its own, beside the
/// ingest loop:
///
///     ingest loop: commit -> submit(.committed) -> read the next batch ...
///     worker:      record the readings -> AlertStage.committed -> tick -> deliver derived readings
///
/// The loop goes on reading and committing while rules run; derived readings wait in an
/// outbox (`takeDerived`) for the loop to commit, and `wake` tells it they are there.
/// Back-pressure: the loop waits (`waitForRoom`) before a commit while more than
/// `maxQueuedReadings` are queued, so the worker's memory is bounded and alerts are never
/// further behind than that.
final class AlertWorker: @unchecked Sendable, SampleHistory {
    enum Job {
        /// A commit's new readings, and the names of the series registered since the last job.
        /// `journalID`: the journal row holding these readings (the derived readings computed
        /// from them are committed with it as the derived watermark).
        case committed([BoundReading], newNames: [SeriesName], now: EpochMillis, journalID: Int64? = nil)
        case storage(ok: Bool, reason: String, subject: String, now: EpochMillis)
        case reload(Catalogue, [Rule], now: EpochMillis)
        case republishFiring
        /// Derived readings were stored: a family waiting for that may be recomputed now.
        case settle
        /// A restart starts (true) or ends (false) feeding the journal again: the late
        /// inputs' recomputes wait for its end (`DerivedSeries.beginRefeed`).
        case refeed(Bool)
        /// The collector stops: the province's scope changes are handled now.
        case lastScopeRound
    }

    static let maxQueuedReadings = 200_000

    private let stage: AlertStage
    private let samples: RecentSamples
    private let clock: any WallClock
    private let wake: () -> Void
    /// Derived readings and corrections for the loop to commit (the corrections first), the
    /// journal row up to which every committed reading's derived readings are among them or
    /// committed before, and the `DerivedSeries` take generation they reach.
    private let outbox = Mutex<DerivedOutbox>(DerivedOutbox())
    /// Every derived reading of take generations up to this is stored (`derivedStored`).
    private let storedGeneration = Atomic<Int>(0)
    /// Whether some derived family waits for a recompute (set by the worker).
    private let waitsToSettle = Atomic<Bool>(false)

    // Guarded by `cond`.
    private let cond = NSCondition()
    private var queue: [Job] = []
    private var queuedReadings = 0
    private var busy = false
    private var stopping = false
    private var stopped = false
    private var started = false

    /// Called (under a lock) with the number of queued readings whenever it changes.
    var queueDepth: (Int) -> Void = { _ in }
    /// Whether time-driven evaluation runs (silences, pending timers, coverage): not on a
    /// partition's standby, whose store gets none of the partition's readings. Set before `start`.
    var ticking: () -> Bool = { true }
    /// (Over a shared alert store, false at first: the first tick as holder adopts the
    /// partition's live alerts, `AlertStage.resumed`.)
    private lazy var wasTicking = !stage.sharedAlerts

    /// Held by the ingest loop from a commit until its readings are queued, and by the worker
    /// while it reads history: so what storage holds and what is still to be handed over are
    /// seen at the same moment (`history` leaves the latter out).
    let commitGate = NSLock()

    // Worker thread only.
    /// The last journal row handled. The watermark stays before the first row whose late
    /// inputs still wait for their recompute, so a restart feeds them again.
    private var lastDone: Int64?
    private var names: [SeriesName] = []
    private var current: [BoundReading] = []
    /// `history` calls in the current job, and (after `indexAfter` of them) the times of the
    /// readings handed to the stage now or later, by series: the current job's and those of
    /// the first `indexedJobs` queued jobs. A backlog's first readings start many trackers at
    /// once, and each would otherwise scan the whole queue.
    private var historyCalls = 0
    private var handed: [SeriesID: [EpochMillis]] = [:]
    private var indexedJobs = 0
    private static let indexAfter = 16

    /// `wake` is called on the worker's thread when derived readings are waiting.
    init(stage: AlertStage, samples: RecentSamples, clock: any WallClock, wake: @escaping () -> Void) {
        self.stage = stage
        self.samples = samples
        self.clock = clock
        self.wake = wake
    }

    /// Derived readings and corrections waiting to be committed (taken by the ingest loop).
    func takeDerived() -> DerivedOutbox {
        outbox.withLock { o in
            defer { o = DerivedOutbox(generation: o.generation) }
            return o
        }
    }

    var hasDerived: Bool { outbox.withLock { !$0.readings.isEmpty || !$0.corrections.isEmpty } }

    /// Every derived reading and correction of take generations up to `generation` is
    /// stored (the ingest loop, after the commit that held the last of them).
    func derivedStored(generation: Int) {
        let old = storedGeneration.max(generation, ordering: .acquiringAndReleasing).oldValue
        if generation > old && waitsToSettle.load(ordering: .acquiring) { submit(.settle) }
    }

    func start() {
        cond.lock()
        defer { cond.unlock() }
        guard !started else { return }
        started = true
        NamedThread.start("alerts") { [self] in run() }
    }

    /// Blocks while the queue is full (call before taking `commitGate`).
    func waitForRoom() {
        cond.lock()
        while queuedReadings > Self.maxQueuedReadings && !stopped { cond.wait() }
        cond.unlock()
    }

    func submit(_ job: Job) {
        cond.lock()
        queue.append(job)
        if case .committed(let rs, _, _, _) = job {
            queuedReadings += rs.count
            queueDepth(queuedReadings)
        }
        cond.signal()
        cond.unlock()
    }

    /// Blocks until every job submitted so far has been handled (and its derived readings delivered).
    func flush() {
        cond.lock()
        while (!queue.isEmpty || busy) && started && !stopped { cond.wait() }
        cond.unlock()
    }

    /// Handles what is queued, then stops the thread; returns once it has.
    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while started && !stopped { cond.wait() }
        cond.unlock()
    }

    private func run() {
        cond.lock()
        while true {
            if queue.isEmpty && !stopping {
                _ = cond.wait(until: Date(timeIntervalSinceNow: 1))
            }
            let job = queue.isEmpty ? nil : queue.removeFirst()
            if job == nil && stopping { break }
            // Every reading committed before the next queued commit has been seen: time is
            // judged as of then, so a backlog still queued here does not look like silence.
            let seenUntil = queue.lazy.compactMap { j -> EpochMillis? in
                if case .committed(_, _, let now, _) = j { return now } else { return nil }
            }.first
            busy = true
            cond.unlock()
            // A lease taken or lost before the job: a takeover's first readings meet the
            // alerts it adopted.
            let ticks = ticking()
            if ticks && !wasTicking { stage.resumed(now: clock.now()) }
            if !ticks && wasTicking { stage.paused() }
            wasTicking = ticks
            if let job { handle(job) }
            // Time passes too: pending timers, silences, coverage (at most once a second inside).
            // (A standby runs only what `computesCoverage` gives it: the province's coverage.)
            var out = stage.tick(now: min(clock.now(), seenUntil ?? .max), history: self, partition: ticks)
            // Late inputs' families, once what they derived before is stored.
            resetHandedIndex()
            stage.settle(storedGeneration: storedGeneration.load(ordering: .acquiring), history: self)
            out += stage.takeDerived()
            let corrections = stage.takeCorrections(now: clock.now())
            // (A ring that cannot be updated is refilled from storage at the next start.)
            for c in corrections { try? samples.replace(c.series, from: c.from, with: c.samples) }
            if case .committed(_, _, _, let id?)? = job { lastDone = id }
            waitsToSettle.store(stage.hasDirtyFamilies, ordering: .releasing)
            let held = stage.earliestDirtyJob
            let done = held.map { h in lastDone.map { min($0, h - 1) } ?? h - 1 } ?? lastDone
            let generation = stage.derivedGeneration
            outbox.withLock { o in
                o.add(out, corrections)
                o.generation = generation
                if let done { o.upTo = max(o.upTo ?? done, done) }
            }
            if !out.isEmpty || !corrections.isEmpty { wake() }
            cond.lock()
            if case .committed(let rs, _, _, _)? = job {
                queuedReadings -= rs.count
                queueDepth(queuedReadings)
            }
            busy = false
            cond.broadcast()
        }
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    private func handle(_ job: Job) {
        resetHandedIndex()
        switch job {
        case .committed(let readings, let newNames, let now, let journalID):
            names += newNames
            samples.record(readings)
            current = readings
            stage.committed(readings, names: names, history: self, now: now, journalID: journalID)
            current = []
        case .storage(let ok, let reason, let subject, let now):
            stage.storage(ok: ok, reason: reason, subject: subject, now: now)
        case .reload(let catalogue, let rules, let now):
            stage.reload(catalogue: catalogue, rules: rules, now: now)
        case .republishFiring:
            stage.republishFiring()
        case .settle:
            break   // (the loop settles after every job)
        case .refeed(let starts):
            stage.refeed(starts)
        case .lastScopeRound:
            stage.lastScopeRound(now: clock.now())
        }
    }

    /// The queue's head moved on, or no job is current (the history index is rebuilt).
    private func resetHandedIndex() {
        historyCalls = 0
        handed = [:]
        indexedJobs = 0
    }

    // MARK: SampleHistory (worker thread)

    func recent(_ id: SeriesID) -> [Sample] { samples.recent(id) }

    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        // What storage holds and what is queued, at one moment (no commit in between); the
        // gate is held only for the read and a copy of the queue, not for the scan below.
        commitGate.lock()
        let found = Result { try samples.stored(name, from: from, to: to) }
        cond.lock()
        let queued = queue
        cond.unlock()
        commitGate.unlock()
        guard let (id, stored) = try found.get(), !stored.isEmpty else { return [] }
        // Stored, but handed to the stage now or later: the caller is fed those directly.
        let skip = Set(handedTimes(of: id, queued: queued))
        return skip.isEmpty ? stored : stored.filter { !skip.contains($0.time) }
    }

    /// The times of `id`'s readings in the current job and in `queued` (the queue as it is
    /// now: the jobs seen by an earlier call in this job are still at its head).
    private func handedTimes(of id: SeriesID, queued: [Job]) -> [EpochMillis] {
        historyCalls += 1
        if historyCalls <= Self.indexAfter {
            var times = current.filter { $0.series == id }.map(\.time)
            for case .committed(let rs, _, _, _) in queued {
                for r in rs where r.series == id { times.append(r.time) }
            }
            return times
        }
        if historyCalls == Self.indexAfter + 1 {
            for r in current { handed[r.series, default: []].append(r.time) }
        }
        for case .committed(let rs, _, _, _) in queued[indexedJobs...] {
            for r in rs { handed[r.series, default: []].append(r.time) }
        }
        indexedJobs = queued.count
        return handed[id] ?? []
    }

    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try samples.stored(name, from: from, to: to)?.samples ?? []
    }

    func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        try samples.lastStored(name, before: before)
    }

    func stored(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        try samples.stored(name, from: from, to: to)?.samples ?? []
    }
}

/// What the alert worker hands the ingest loop: derived readings, corrections (committed
/// before them), the journal row up to which every committed reading's derived readings are
/// in it or stored, and the `DerivedSeries` take generation it reaches.
struct DerivedOutbox: Sendable {
    var readings: [Reading] = []
    var corrections: [SeriesCorrection] = []
    var upTo: Int64?
    var generation = 0

    /// Adds readings made after everything in it, and corrections made after those: a
    /// correction replaces a waiting reading of its series from its `from` on.
    mutating func add(_ more: [Reading], _ newCorrections: [SeriesCorrection]) {
        readings += more
        Self.apply(newCorrections, to: &readings, &corrections)
    }

    /// Corrections made after `readings` and `corrections`: each drops the readings of its
    /// series from its `from` on, and follows an earlier correction of its series.
    static func apply(_ newCorrections: [SeriesCorrection], to readings: inout [Reading], _ corrections: inout [SeriesCorrection]) {
        for c in newCorrections {
            readings.removeAll { $0.series == c.series && $0.time >= c.from }
            if let k = corrections.firstIndex(where: { $0.series == c.series }) {
                corrections[k] = corrections[k].followed(by: c)
            } else {
                corrections.append(c)
            }
        }
    }
}

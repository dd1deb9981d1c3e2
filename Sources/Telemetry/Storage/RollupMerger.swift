import Foundation
import GRDB
import GRDBSQLite

/// Merges rollup deltas into the rollups file (`TelemetryDatabase.rollupsPath`) on a thread
/// and connection of its own, beside the ingest thread:
///
///     ingest:  commit raw + rollup_journal (main file) -> submit(deltas, upTo: last journal id)
///     merger:  upsert the 1m deltas (+ every 5 s the 15m/1h/1d ones) + merge_state, one
///              transaction (rollups file)
///
/// The two files have separate write locks, so a merge never holds up a commit. A delta's
/// readings stay in the journal until `mergedUpTo` passes them; a restart replays the journal
/// rows past `merge_state.journal_upto` (those up to `minute_upto` into the coarse tiers
/// only), so every rollup row equals the aggregate of its raw rows whatever was interrupted.
/// A failed merge keeps its deltas and is tried again.
public final class RollupMerger: @unchecked Sendable {
    /// One hand-over: deltas in any order (in chunks, `parts`, as handed over; in `deltas`
    /// once copied into one array for the merge), the last journal id they cover, and how many
    /// readings they hold; or a correction's sets (whole new buckets, an empty one removing
    /// its bucket), merged alone, after every delta handed over before them. A job is merged
    /// whole, in one transaction with the journal mark it reaches: a part merged alone would
    /// be in the rollups while the mark says its readings are not (a journal replay after a
    /// kill would add them twice).
    private struct Job {
        var deltas: [(key: BucketKey, bucket: Bucket)] = []
        var parts: [[(key: BucketKey, bucket: Bucket)]] = []
        var upTo: Int64
        var readings: Int
        var sets: [(key: BucketKey, bucket: Bucket)] = []

        /// Deltas, handed over or copied.
        var count: Int { deltas.count + parts.reduce(0) { $0 + $1.count } }
    }

    /// By default `waitForRoom` waits while more deltas than this are queued (the merger's
    /// memory bound).
    public static let defaultQueueLimit = 2_000_000
    private let queueLimit: Int

    private let db: DatabasePool
    // Guarded by `cond`.
    private let cond = NSCondition()
    private var queue: [Job] = []
    private var queuedDeltas = 0
    private var queuedReadings = 0
    /// Every tier holds the journal up to here (`merge_state.journal_upto`).
    private var merged: Int64
    /// The 1m tier holds the journal up to here (`merge_state.minute_upto`, never behind `merged`).
    private var minuteMerged: Int64
    private var onBacklog: @Sendable (Int) -> Void = { _ in }
    private var failure: (any Error)?
    private var stopping = false
    private var running = false
    private var closed = false
    private var waiters = 0
    /// Emptied handover chunks (`buffer()`).
    private var spare: [[(key: BucketKey, bucket: Bucket)]] = []
    /// Tiers found answered from raw, for `takeAnsweredFromRaw` (from `learned`).
    private var published: [(tier: Tier, series: SeriesID)] = []
    private var lastMerge = ContinuousClock.now - .seconds(1)
    private var lastCoarse = ContinuousClock.now
    /// The merger thread's own: 15m, 1h and 1d deltas whose readings are in the 1m tier
    /// already, kept until the next coarse merge: appended a job's sorted, coalesced run at
    /// a time (no hashing), then sorted (the sort merges the runs) and coalesced together.
    private var deferred: [(key: BucketKey, bucket: Bucket)] = []
    /// The merger thread's own, per tier and series index: buckets up to this start are
    /// sealed in rollup blocks (`RollupBlockStore`), later ones are rows (`notLookedUp`: read
    /// from the blocks at the series' first delta of the run); and the newest row start
    /// upserted this run. A delta at or before `sealedUpTo` merges into the blocks.
    private var sealedUpTo: [[EpochMillis]] = Array(repeating: [], count: Tier.allCases.count)
    private static let notLookedUp = EpochMillis.min
    /// The merger thread's own: tiers it found answered from raw (looked up, or decided by a
    /// committed merge), published under `cond` once a merge succeeds.
    private var learned: [(tier: Tier, series: SeriesID)] = []
    /// The merger thread's own: the array a merge's queued jobs are copied into, kept with its
    /// capacity from one merge to the next.
    private var work: [(key: BucketKey, bucket: Bucket)] = []
    /// `sealedUpTo` of a series with no block.
    private static let nothingSealed = EpochMillis.min + 1
    /// `sealedUpTo` of a tier the series does not store (`TierSizing`): its deltas are dropped.
    private static let answeredFromRaw = EpochMillis.max
    private var newestRow: [[EpochMillis]] = Array(repeating: [], count: Tier.allCases.count)
    /// Per tier and series index, about how many rows the head holds: the new rows since the
    /// last seal (a row after the newest is new; a late one is not counted).
    private var headRows: [[Int32]] = Array(repeating: [], count: Tier.allCases.count)
    /// A tier's rows of a series are sealed once the head holds this many, all but the last
    /// `headBuckets` (which live readings still update). Sealing appends to the newest block
    /// (decoded and encoded again: up to `RollupBlockStore.maxBucketsPerBlock` buckets), so a
    /// bucket costs a few bucket codings at most.
    static let sealRows: Int32 = 128
    static let headBuckets: Int64 = 2
    /// A merge takes queued jobs up to this many deltas together.
    static let maxJobDeltas = 262_144
    /// At most one merge this often unless someone waits for it: each merge rewrites every
    /// B-tree page it touches, so fewer, larger merges write less.
    static let minInterval: Duration = .milliseconds(500)
    /// The 15m, 1h and 1d tiers are merged this often (and whenever someone waits, or the
    /// merger stops); the 1m tier at every merge. A coarse bucket gets many readings in that
    /// time, so it is written once, not at every merge.
    public static let defaultCoarseInterval: Duration = .seconds(5)
    private let coarseInterval: Duration
    /// Raw readings before this time may be pruned (nil: kept for good). A tier whose rows
    /// reach back before it is never dropped for raw readings (`TierSizing`): they would be
    /// its only copy, soon gone (a store from before tiers were sized).
    private let rawHorizon: (@Sendable () -> EpochMillis)?

    /// The journal id up to which every reading is in every tier of the rollups file.
    public var mergedUpTo: Int64 { cond.lock(); defer { cond.unlock() }; return merged }

    /// The journal id up to which every reading is in the 1m tier (at or past `mergedUpTo`).
    public var minuteMergedUpTo: Int64 { cond.lock(); defer { cond.unlock() }; return minuteMerged }

    /// Called (on either thread, under a lock) with the number of readings handed over and not
    /// yet in the 1m tier, whenever it changes.
    public func observeBacklog(_ body: @escaping @Sendable (Int) -> Void) {
        cond.lock()
        onBacklog = body
        body(queuedReadings)
        cond.unlock()
    }

    /// Opens a writer of its own on the rollups file at `path` (already migrated) and starts
    /// the thread. `synchronous` and `maxPageCount` follow the main file's writer.
    init(path: String, synchronous: Int, maxPageCount: Int64, queueLimit: Int = defaultQueueLimit,
         coarseInterval: Duration = defaultCoarseInterval, rawHorizon: (@Sendable () -> EpochMillis)? = nil,
         idleRelease: Duration = defaultIdleRelease) throws {
        self.queueLimit = queueLimit
        self.idleRelease = idleRelease
        self.rawHorizon = rawHorizon
        self.coarseInterval = coarseInterval
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA cache_size = -131072")
            try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)")
        }
        db = try DatabasePool(path: path, configuration: config)
        let state = try db.read { try Row.fetchOne($0, sql: "SELECT journal_upto, minute_upto FROM merge_state WHERE id = 1") }
        merged = state?[0] ?? 0
        minuteMerged = max(merged, state?[1] ?? 0)
        running = true
        NamedThread.start("rollup-merge", background: true) { [self] in run() }
    }

    /// Waits while the queue is full (a merger slower than the commits); throws instead when
    /// the merges fail (a full disk), so the commit that would add to the queue fails too and
    /// acknowledges nothing.
    func waitForRoom() throws {
        cond.lock()
        defer { cond.unlock() }
        while queuedDeltas > queueLimit && running {
            if let failure { throw failure }
            cond.wait()
        }
    }

    /// The size of a handover's chunk (`buffer()`): 5 MiB of deltas.
    public static let chunkDeltas = 65_536
    /// How many emptied chunks are kept for reuse (5 MiB each), while deltas keep coming:
    /// after `idleRelease` with nothing to merge they are let go, with the merge array.
    static let spareChunks = 8
    static let defaultIdleRelease: Duration = .seconds(10)
    private let idleRelease: Duration

    /// How many emptied chunks are held for reuse (tests).
    var spareCount: Int { cond.lock(); defer { cond.unlock() }; return spare.count }

    /// An empty array with room for `chunkDeltas` deltas, for a handover: a chunk the merger
    /// has emptied when there is one (its pages are in memory already), else a new one.
    func buffer() -> [(key: BucketKey, bucket: Bucket)] {
        cond.lock()
        let reused = spare.popLast()
        cond.unlock()
        if let reused { return reused }
        var a: [(key: BucketKey, bucket: Bucket)] = []
        a.reserveCapacity(Self.chunkDeltas)
        return a
    }

    /// Appends a queued job's deltas to `all`, its chunks kept for `buffer()`; under `cond`.
    private func take(_ job: inout Job, into all: inout [(key: BucketKey, bucket: Bucket)]) {
        all += job.deltas
        recycle(&job.deltas)
        for k in job.parts.indices {
            all += job.parts[k]
            recycle(&job.parts[k])
        }
        job.parts = []
    }

    /// Takes a queued chunk's array (its deltas copied already) for `buffer()`; under `cond`.
    private func recycle(_ a: inout [(key: BucketKey, bucket: Bucket)]) {
        var chunk: [(key: BucketKey, bucket: Bucket)] = []
        swap(&chunk, &a)
        guard spare.count < Self.spareChunks, chunk.capacity >= Self.chunkDeltas, chunk.capacity < 2 * Self.chunkDeltas else { return }
        chunk.removeAll(keepingCapacity: true)
        spare.append(chunk)
    }

    /// Queues `deltas` (of `readings` readings, journal ids up to `upTo`); call `waitForRoom` first.
    func submit(_ deltas: [(key: BucketKey, bucket: Bucket)], upTo: Int64, readings: Int) {
        submit(parts: [deltas], upTo: upTo, readings: readings)
    }

    /// `submit` of a handover in chunks (`buffer()`): merged as one job.
    func submit(parts: [[(key: BucketKey, bucket: Bucket)]], upTo: Int64, readings: Int) {
        let job = Job(parts: parts, upTo: upTo, readings: readings)
        cond.lock()
        queue.append(job)
        queuedDeltas += job.count
        queuedReadings += readings
        onBacklog(queuedReadings)
        cond.broadcast()
        cond.unlock()
    }

    /// Queues a correction's sets (journal id `upTo`): each bucket becomes exactly the one
    /// given, after every delta queued before (`TelemetryStore.commitCorrections`).
    func submitSets(_ sets: [(key: BucketKey, bucket: Bucket)], upTo: Int64) {
        cond.lock()
        queue.append(Job(upTo: upTo, readings: 0, sets: sets))
        queuedDeltas += sets.count
        cond.broadcast()
        cond.unlock()
    }

    /// The tiers of series found answered from raw since the last call (each for good: the
    /// merger drops their deltas, so the downsampler need not make them). Any thread.
    func takeAnsweredFromRaw() -> [(tier: Tier, series: SeriesID)] {
        cond.lock()
        defer { cond.unlock() }
        guard !published.isEmpty else { return [] }
        let out = published
        published.removeAll()
        return out
    }

    /// Blocks until everything up to journal id `upTo` is merged into every tier; throws the
    /// merge's error if it failed meanwhile (its deltas stay queued and are tried again).
    func wait(upTo: Int64) throws {
        cond.lock()
        defer { cond.unlock() }
        failure = nil   // only a failure from now on counts
        waiters += 1
        defer { waiters -= 1 }
        cond.broadcast()   // merge now, without waiting for `minInterval`
        while merged < upTo && running {
            if let failure { throw failure }
            cond.wait()
        }
    }

    /// Applies a new size cap (SIGHUP) to the merger's connection.
    func setMaxSize(_ bytes: Int64) throws {
        try db.barrierWriteWithoutTransaction { try TelemetryDatabase.setMaxSize($0, bytes) }
        cond.lock()
        cond.broadcast()   // a merge that failed on the old cap is tried again now
        cond.unlock()
    }

    /// Merges what is queued and deferred, then stops the thread and closes the connection;
    /// returns once it has. What cannot be merged stays in the journal for the next start.
    /// With `sealingBefore`, the rollup rows before it are then sealed into blocks
    /// (`sealAll`; best effort: rows left are as good, only larger).
    func stop(sealingBefore now: EpochMillis? = nil) {
        cond.lock()
        stopping = true
        cond.broadcast()
        while running { cond.wait() }
        let close = !closed
        closed = true
        cond.unlock()
        guard close else { return }
        if let now { try? sealAll(before: now) }
        // The WAL emptied (best effort: a reader may hold it), then the connection closed.
        try? db.barrierWriteWithoutTransaction { db in
            try db.execute(sql: "PRAGMA incremental_vacuum")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try? db.close()
    }

    private func run() {
        cond.lock()
        while true {
            let now = ContinuousClock.now
            // Sets land on every tier at once: the deferred coarse deltas go before them.
            let urgent = waiters > 0 || stopping || queuedDeltas > queueLimit || queue.first.map { !$0.sets.isEmpty } ?? false
            let coarseTime = urgent || now >= lastCoarse + coarseInterval || deferred.count > queueLimit / 2
            // A full job waiting (a backlog) is merged at once.
            let fineDue = !queue.isEmpty && (urgent || queuedDeltas >= Self.maxJobDeltas || now >= lastMerge + Self.minInterval)
            if !fineDue && !(coarseTime && !deferred.isEmpty) {
                if queue.isEmpty && deferred.isEmpty {
                    if stopping { break }
                    if !cond.wait(until: Date(timeIntervalSinceNow: idleRelease.inSeconds)) && queue.isEmpty {
                        // Idle since: the handover buffers (tens of MB after a backlog) go back.
                        spare.removeAll()
                        work = []
                    }
                } else {
                    var wake = lastCoarse + coarseInterval
                    if !queue.isEmpty { wake = min(wake, lastMerge + Self.minInterval) }
                    _ = cond.wait(until: Date(timeIntervalSinceNow: now.duration(to: wake).inSeconds))
                }
                continue
            }
            lastMerge = now
            // Everything queued, in one transaction.
            let queued = !queue.isEmpty
            var job = Job(upTo: minuteMerged, readings: 0)
            if queued {
                // The queued jobs in one transaction, each whole, more of them up to
                // `maxJobDeltas` (larger sorts cost more a delta than the transactions they
                // save). Copied into the merger's own array; the chunks go back for reuse.
                job = queue.removeFirst()
                var all = work
                work = []
                all.removeAll(keepingCapacity: true)
                take(&job, into: &all)
                var taken = 0
                while taken < queue.count && job.sets.isEmpty && queue[taken].sets.isEmpty
                        && all.count + queue[taken].count <= Self.maxJobDeltas {
                    take(&queue[taken], into: &all)
                    job.upTo = max(job.upTo, queue[taken].upTo)
                    job.readings += queue[taken].readings
                    taken += 1
                }
                queue.removeFirst(taken)
                job.deltas = all
            }
            let taken = job.deltas.count + job.sets.count   // as queued (the merge may drop some)
            cond.unlock()
            let result = Result { try merge(&job, flush: coarseTime) }
            cond.lock()
            switch result {
            case .success:
                failure = nil
                work = job.deltas   // (the job ends here: its array is the merger's again)
                published += learned
                learned.removeAll(keepingCapacity: true)
                minuteMerged = max(minuteMerged, job.upTo)
                if coarseTime {
                    merged = minuteMerged
                    lastCoarse = ContinuousClock.now
                }
                queuedDeltas -= taken
                queuedReadings -= job.readings
                onBacklog(queuedReadings)
            case .failure(let e):
                failure = e
                if queued {
                    queue.insert(job, at: 0)
                    queuedDeltas -= taken - job.deltas.count - job.sets.count
                }
                cond.broadcast()
                // Stopping: the journal keeps these readings for the next start.
                if stopping {
                    queue.removeAll()
                    deferred.removeAll()
                    break
                }
                // Tried again after a second, or at once when woken (a new cap, a new job).
                _ = cond.wait(until: Date(timeIntervalSinceNow: 1))
            }
            cond.broadcast()
        }
        running = false
        cond.broadcast()
        cond.unlock()
    }

    /// Upserts the job's 1m deltas, and with `flush` every coarse delta (the job's and the
    /// deferred ones), in key order (tier, series, bucket: consecutive upserts land on the
    /// same or the next B-tree page), one per key, and records how far the journal is merged,
    /// in one transaction. Without `flush` the job's coarse deltas are deferred once it commits.
    private func merge(_ job: inout Job, flush: Bool) throws {
        // Deltas of tiers known to be answered from raw go before the sort (the rest is
        // looked up as it is stored).
        job.deltas.removeAll { d in
            Self.get(sealedUpTo[d.key.tier.rawValue], d.key.series.index, or: Self.notLookedUp) == Self.answeredFromRaw
        }
        job.deltas.sort(by: Self.keyOrder)
        Self.coalesce(&job.deltas)
        let deltas = job.deltas
        let firstCoarse = deltas.firstIndex { $0.key.tier != .minute } ?? deltas.endIndex
        let coarse = deltas[firstCoarse...]
        var flushed: [(key: BucketKey, bucket: Bucket)] = []
        if flush {
            flushed.reserveCapacity(deferred.count + coarse.count)
            flushed += deferred
            flushed += coarse
            flushed.sort(by: Self.keyOrder)
            Self.coalesce(&flushed)
        }
        let minuteUpTo = max(minuteMerged, job.upTo)
        let allUpTo = flush ? minuteUpTo : merged
        var sealing: [(tier: Tier, series: SeriesID, upTo: EpochMillis?)] = []
        rowsTouched.removeAll(keepingCapacity: true)
        directSeals.removeAll(keepingCapacity: true)
        try db.write { db in
            var statements: [Statement] = []
            for tier in Tier.allCases {
                statements.append(try db.cachedStatement(sql: """
                    INSERT INTO \(tier.table) (series_id, t, cnt, total, lo, hi, first_t, first_v, last_t, last_v)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """ + Self.mergeRule))
            }
            func upsert(_ key: BucketKey, _ b: Bucket) throws {
                try FastStep.run(statements[key.tier.rawValue], db) { h in
                    sqlite3_bind_int64(h, 1, Int64(key.series.rawValue))
                    sqlite3_bind_int64(h, 2, key.start)
                    sqlite3_bind_int64(h, 3, b.count)
                    sqlite3_bind_double(h, 4, b.sum)
                    sqlite3_bind_double(h, 5, b.min)
                    sqlite3_bind_double(h, 6, b.max)
                    sqlite3_bind_int64(h, 7, b.firstTime)
                    sqlite3_bind_double(h, 8, b.first)
                    sqlite3_bind_int64(h, 9, b.lastTime)
                    sqlite3_bind_double(h, 10, b.last)
                }
            }
            try store(deltas[..<firstCoarse], upsert: upsert, db)
            try store(flushed[...], upsert: upsert, db)
            try applySets(job.sets, db)
            sealing = try directSeals + sealDue(db)
            try db.execute(sql: "INSERT OR REPLACE INTO merge_state (id, journal_upto, minute_upto) VALUES (1, ?, ?)",
                           arguments: [allUpTo, minuteUpTo])
        }
        for (tier, series, newest, added) in rowsTouched {
            let t = tier.rawValue, i = series.index
            Self.set(&newestRow[t], i, max(Self.get(newestRow[t], i, or: .min), newest), missing: .min)
            Self.set(&headRows[t], i, Self.get(headRows[t], i, or: 0) + added, missing: 0)
        }
        for (tier, series, upTo) in sealing {
            let t = tier.rawValue, i = series.index
            // Never back: every bucket up to the old mark is in a block already (and a tier
            // answered from raw stays so: its mark is the largest).
            if let upTo {
                Self.set(&sealedUpTo[t], i, max(Self.get(sealedUpTo[t], i, or: Self.notLookedUp), upTo), missing: Self.notLookedUp)
                if upTo == Self.answeredFromRaw { learned.append((tier, series)) }
            }
            Self.set(&headRows[t], i, Int32(Self.headBuckets), missing: 0)
        }
        if flush {
            deferred.removeAll(keepingCapacity: true)
        } else {
            deferred += coarse
        }
    }

    /// This merge's rows, per tier and series: the newest start upserted and how many rows
    /// are new after the newest before (applied to `newestRow` and `headRows` once the merge
    /// commits).
    private var rowsTouched: [(tier: Tier, series: SeriesID, newest: EpochMillis, added: Int32)] = []

    /// This merge's seals made while storing (`store`), applied with `sealDue`'s once it commits.
    private var directSeals: [(tier: Tier, series: SeriesID, upTo: EpochMillis?)] = []
    /// A run of at least this many deltas of one tier and series, all before its newest
    /// `headBuckets`, is sealed straight into its blocks.
    static let directSealDeltas = 8

    /// Stores sorted, coalesced deltas: those at or before their series' `sealedUpTo` merged
    /// into its blocks a run at a time, the others upserted as rows (or, a backlog's, sealed
    /// straight into the blocks).
    private func store(_ deltas: ArraySlice<(key: BucketKey, bucket: Bucket)>, upsert: (BucketKey, Bucket) throws -> Void,
                       _ db: Database) throws {
        var i = deltas.startIndex
        while i < deltas.endIndex {
            let key = deltas[i].key
            var end = i
            while end < deltas.endIndex && deltas[end].key.tier == key.tier && deltas[end].key.series == key.series { end += 1 }
            let sealed = try sealedStart(key.tier, key.series, db)
            if sealed == Self.answeredFromRaw {
                // Not stored: readers aggregate this tier from the raw readings.
                i = end
                continue
            }
            var split = i
            while split < end && deltas[split].key.start <= sealed { split += 1 }
            if split > i {
                try RollupBlockStore.merge(deltas[i..<split].lazy.map { (start: $0.key.start, bucket: $0.bucket) },
                                           tier: key.tier, series: key.series, db)
            }
            if split < end {
                let newest = Self.get(newestRow[key.tier.rawValue], key.series.index, or: .min)
                // A backlog (an import, a gateway's catch-up): the deltas but the newest
                // `headBuckets` go straight into the blocks with the rows before them, instead
                // of becoming rows to be sealed later.
                let upTo = max(deltas[end - 1].key.start, newest) - Self.headBuckets * key.tier.widthMillis
                var settled = split
                while settled < end && deltas[settled].key.start <= upTo { settled += 1 }
                if settled - split >= Self.directSealDeltas,
                   let mark = try seal(key.tier, key.series, upTo: upTo, with: deltas[split..<settled], db) {
                    directSeals.append((key.tier, key.series, mark))
                    // (An estimate: a rolled-back merge only delays the next seal.)
                    Self.set(&headRows[key.tier.rawValue], key.series.index, 0, missing: 0)
                    if mark == Self.answeredFromRaw {
                        i = end
                        continue
                    }
                    split = settled
                }
                var added: Int32 = 0
                for d in deltas[split..<end] {
                    try upsert(d.key, d.bucket)
                    if d.key.start > newest { added += 1 }
                }
                rowsTouched.append((key.tier, key.series, deltas[end - 1].key.start, added))
            }
            i = end
        }
    }

    /// A correction's sets, after the deltas of the same merge: a bucket in a block is replaced
    /// there, a row written over (an empty bucket removes either); a tier answered from raw
    /// has nothing to set.
    private func applySets(_ sets: [(key: BucketKey, bucket: Bucket)], _ db: Database) throws {
        guard !sets.isEmpty else { return }
        var sorted = sets
        sorted.sort(by: Self.keyOrder)
        var i = 0
        while i < sorted.count {
            let key = sorted[i].key
            var end = i
            while end < sorted.count && sorted[end].key.tier == key.tier && sorted[end].key.series == key.series { end += 1 }
            // Sealed as far as this merge has sealed already (its marks move once it commits).
            var sealed = try sealedStart(key.tier, key.series, db)
            for d in directSeals where d.tier == key.tier && d.series == key.series {
                if let upTo = d.upTo { sealed = max(sealed, upTo) }
            }
            if sealed != Self.answeredFromRaw {
                let run = sorted[i..<end]
                let inBlocks = run.filter { $0.key.start <= sealed }
                if !inBlocks.isEmpty {
                    try RollupBlockStore.merge(inBlocks.map { (start: $0.key.start, bucket: $0.bucket) }, tier: key.tier,
                                               series: key.series, replacing: true, db)
                }
                let write = try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO \(key.tier.table) (series_id, t, cnt, total, lo, hi, first_t, first_v, last_t, last_v)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let remove = try db.cachedStatement(sql: "DELETE FROM \(key.tier.table) WHERE series_id = ? AND t = ?")
                for (k, b) in run where k.start > sealed {
                    if b.isEmpty {
                        try remove.execute(arguments: [k.series.rawValue, k.start])
                    } else {
                        try write.execute(arguments: [k.series.rawValue, k.start, b.count, b.sum, b.min, b.max,
                                                      b.firstTime, b.first, b.lastTime, b.last])
                    }
                }
            }
            i = end
        }
    }

    /// In the merge's transaction: the rows of each series this merge touched, where the
    /// head holds `sealRows`, sealed but for the newest `headBuckets`. Each with its new
    /// sealed mark (nil: nothing sealed). A tier with nothing sealed yet is sealed as soon as
    /// its rows can decide whether the series keeps it (`TierSizing.minBucketsToDecide` rows
    /// before the head): a tier answered from raw then stops taking rows after a few dozen
    /// upserts, not after `sealRows`.
    private func sealDue(_ db: Database) throws -> [(tier: Tier, series: SeriesID, upTo: EpochMillis?)] {
        var out: [(tier: Tier, series: SeriesID, upTo: EpochMillis?)] = []
        let decidable = Int32(TierSizing.minBucketsToDecide) + Int32(Self.headBuckets)
        for (tier, series, newest, added) in rowsTouched {
            let rows = Self.get(headRows[tier.rawValue], series.index, or: 0) + added
            guard rows >= Self.sealRows
                || (rows >= decidable && tier != .day && Self.get(sealedUpTo[tier.rawValue], series.index, or: Self.notLookedUp) == Self.nothingSealed)
            else { continue }
            let upTo = max(newest, Self.get(newestRow[tier.rawValue], series.index, or: .min)) - Self.headBuckets * tier.widthMillis
            out.append((tier, series, try seal(tier, series, upTo: upTo, db)))
        }
        return out
    }

    /// Moves the rows of `tier` and `series` with start at or before `upTo` into its blocks.
    /// At the tier's first seal it first decides whether the series keeps the tier
    /// (`TierSizing`, from those rows): if not, every row of it goes and it is answered from
    /// the raw readings. Returns the new sealed mark (`answeredFromRaw` for a tier dropped),
    /// nil when nothing was sealed (no rows, or too few to decide).
    private func seal(_ tier: Tier, _ series: SeriesID, upTo: EpochMillis,
                      with deltas: ArraySlice<(key: BucketKey, bucket: Bucket)> = [], _ db: Database) throws -> EpochMillis? {
        let rows = try db.cachedStatement(sql: """
            SELECT t, cnt, total, lo, hi, first_t, first_v, last_t, last_v FROM \(tier.table)
            WHERE series_id = ? AND t <= ? ORDER BY t
            """)
        // Read through the C API (the columns are NOT NULL): a GRDB Row a bucket was a fifth
        // of the merger's time.
        var buckets: [(start: EpochMillis, bucket: Bucket)] = []
        try FastStep.forEachRow(rows, db) { h in
            sqlite3_bind_int64(h, 1, Int64(series.rawValue))
            sqlite3_bind_int64(h, 2, upTo)
        } row: { h in
            buckets.append((sqlite3_column_int64(h, 0),
                            Bucket(count: sqlite3_column_int64(h, 1), sum: sqlite3_column_double(h, 2),
                                   min: sqlite3_column_double(h, 3), max: sqlite3_column_double(h, 4),
                                   firstTime: sqlite3_column_int64(h, 5), first: sqlite3_column_double(h, 6),
                                   lastTime: sqlite3_column_int64(h, 7), last: sqlite3_column_double(h, 8))))
        }
        let hadRows = !buckets.isEmpty
        if !deltas.isEmpty { buckets = Self.merged(buckets, deltas) }
        guard !buckets.isEmpty else { return nil }
        if try sealedStart(tier, series, db) == Self.nothingSealed {
            switch TierSizing.keeps(tier, buckets: buckets.lazy.map(\.bucket)) {
            case nil: return nil
            case false? where rawHorizon.map { buckets[0].start >= $0() } ?? true:
                try TierSizing.answerFromRaw(tier, series: series, db)
                return Self.answeredFromRaw
            case false?: break   // older than the raw readings kept: stored for good
            case true?: break
            }
        }
        try RollupBlockStore.merge(buckets, tier: tier, series: series, db)
        if hadRows {
            try db.cachedStatement(sql: "DELETE FROM \(tier.table) WHERE series_id = ? AND t <= ?").execute(arguments: [series.rawValue, upTo])
        }
        return upTo
    }

    /// Rows and deltas (each in start order, distinct starts) as one run in start order; a
    /// bucket in both merged as the upsert would (the row first).
    static func merged(_ rows: [(start: EpochMillis, bucket: Bucket)], _ deltas: ArraySlice<(key: BucketKey, bucket: Bucket)>)
        -> [(start: EpochMillis, bucket: Bucket)] {
        var out: [(start: EpochMillis, bucket: Bucket)] = []
        out.reserveCapacity(rows.count + deltas.count)
        var i = 0
        var j = deltas.startIndex
        while i < rows.count || j < deltas.endIndex {
            if j == deltas.endIndex || (i < rows.count && rows[i].start < deltas[j].key.start) {
                out.append(rows[i])
                i += 1
            } else if i == rows.count || deltas[j].key.start < rows[i].start {
                out.append((deltas[j].key.start, deltas[j].bucket))
                j += 1
            } else {
                var b = rows[i].bucket
                b.merge(deltas[j].bucket)
                out.append((rows[i].start, b))
                i += 1
                j += 1
            }
        }
        return out
    }

    /// Seals every row of every tier whose bucket starts `headBuckets` buckets or more before
    /// `now`, 500 series a transaction (the end of an import: nothing is left to update but
    /// the newest buckets, and blocks take a tenth of the room). Only while the merger thread
    /// is stopped (`stop(sealingBefore:)`): it uses the thread's own state.
    func sealAll(before now: EpochMillis) throws {
        for tier in Tier.allCases {
            let series = try db.read { db in
                try Int32.fetchAll(db, sql: "SELECT DISTINCT series_id FROM \(tier.table)").map(SeriesID.init)
            }
            for chunk in stride(from: 0, to: series.count, by: 500) {
                let part = series[chunk..<min(chunk + 500, series.count)]
                let upTo = now - Self.headBuckets * tier.widthMillis - 1
                try db.write { db in for s in part { _ = try seal(tier, s, upTo: upTo, db) } }
            }
        }
    }

    /// Deletes the buckets of `tier` that start before `before` (rows and sealed buckets) of
    /// the series with ids below `seriesCount`, `seriesPerCommit` series a transaction on the
    /// merger's connection (each found by key: no table scan, and the merges wait a moment at
    /// most); returns how many went. Callable from any thread: the connection's writes take
    /// turns with the merges.
    @discardableResult
    public func prune(_ tier: Tier, before: EpochMillis, seriesCount: Int, seriesPerCommit: Int = 2_000) throws -> Int {
        var gone = 0
        var start = 0
        while start < seriesCount {
            let end = min(start + seriesPerCommit, seriesCount)
            gone += try db.write { db in
                let rows = try db.cachedStatement(sql: "DELETE FROM \(tier.table) WHERE series_id = ? AND t < ?")
                var n = 0
                for id in start..<end {
                    try rows.execute(arguments: [id, before])
                    n += db.changesCount
                    n += try RollupBlockStore.delete(tier: tier, series: SeriesID(Int32(id)), before: before, db)
                }
                return n
            }
            start = end
        }
        return gone
    }

    /// `sealedUpTo` of `tier` and `series`, looked up the first time this run (in its blocks,
    /// and whether the tier is answered from raw).
    private func sealedStart(_ tier: Tier, _ series: SeriesID, _ db: Database) throws -> EpochMillis {
        let known = Self.get(sealedUpTo[tier.rawValue], series.index, or: Self.notLookedUp)
        guard known == Self.notLookedUp else { return known }
        let start = try TierSizing.isFromRaw(tier, series: series, db) ? Self.answeredFromRaw
            : try RollupBlockStore.newestStart(tier: tier, series: series, db) ?? Self.nothingSealed
        Self.set(&sealedUpTo[tier.rawValue], series.index, start, missing: Self.notLookedUp)
        if start == Self.answeredFromRaw { learned.append((tier, series)) }
        return start
    }

    /// Per-series arrays indexed by series index, grown on demand (`missing` for the rest).
    @inline(__always)
    static func get<T>(_ a: [T], _ i: Int, or missing: T) -> T { i < a.count ? a[i] : missing }

    static func set<T>(_ a: inout [T], _ i: Int, _ v: T, missing: T) {
        if i >= a.count { a.append(contentsOf: repeatElement(missing, count: i + 1 - a.count)) }
        a[i] = v
    }

    /// Key order (tier, series, bucket): consecutive upserts land on the same or the next
    /// B-tree page.
    private static func keyOrder(_ a: (key: BucketKey, bucket: Bucket), _ b: (key: BucketKey, bucket: Bucket)) -> Bool {
        (a.key.tier.rawValue, a.key.series.rawValue, a.key.start) < (b.key.tier.rawValue, b.key.series.rawValue, b.key.start)
    }

    /// Folds the runs of one key of sorted deltas into one, in place, in their order (the
    /// sort is stable, and `Bucket.merge` breaks ties of first/last time as the upsert does):
    /// a backlog merged in one go touches each day's row once, not once per commit. In place,
    /// since a coarse merge's deltas can be tens of megabytes.
    static func coalesce(_ deltas: inout [(key: BucketKey, bucket: Bucket)]) {
        guard deltas.count > 1 else { return }
        let kept = deltas.withUnsafeMutableBufferPointer { d in
            var w = 0
            for r in 1..<d.count {
                if d[r].key == d[w].key {
                    d[w].bucket.merge(d[r].bucket)
                } else {
                    w += 1
                    if w != r { d[w] = d[r] }
                }
            }
            return w + 1
        }
        deltas.removeLast(deltas.count - kept)
    }

    /// How a delta merges into a stored rollup row: the result is the aggregate of both.
    private static let mergeRule = """
         ON CONFLICT (series_id, t) DO UPDATE SET
          cnt = cnt + excluded.cnt,
          total = total + excluded.total,
          lo = min(lo, excluded.lo),
          hi = max(hi, excluded.hi),
          first_v = CASE WHEN excluded.first_t < first_t THEN excluded.first_v ELSE first_v END,
          first_t = min(first_t, excluded.first_t),
          last_v = CASE WHEN excluded.last_t > last_t THEN excluded.last_v ELSE last_v END,
          last_t = max(last_t, excluded.last_t)
        """
}

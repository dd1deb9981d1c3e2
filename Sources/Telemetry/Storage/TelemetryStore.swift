import Foundation
import GRDB
// The SQLite C API under GRDB: the commit's per-reading statements bind and step directly.
import GRDBSQLite

/// The write side of Telemetry: binds readings to series, and commits a batch (readings
/// deduplicated and journaled, quarantined messages) as one SQLite transaction; the batch's
/// new readings wait in `rawPending` until their slice of series is written to the sample blocks, and
/// its rollup deltas go to the `RollupMerger`, which merges them into the rollups file beside.
///
/// Not thread-safe: one ingest thread owns it. Readers use `TelemetryReader` on the same pool.
public final class TelemetryStore {
    public let pool: DatabasePool
    public private(set) var registry: SeriesRegistry
    private var downsampler: Downsampler
    private let quarantineLimit: Int
    private var accepted: [BoundReading] = []
    /// The readings the last successful commit really added (duplicates excluded), for the
    /// stages after storage (alerts, derived series).
    public private(set) var committed: [BoundReading] = []
    /// A batch's reading indices in key order, and which of them were new (reused buffers).
    private var insertOrder: [Int] = []
    /// `accepted` in key order (series, time): for the journal and the pending readings,
    /// which then need no sort of their own.
    private var acceptedByKey: [BoundReading] = []
    private var keyOrder = KeyOrder()
    private var isNew: [Bool] = []
    private let merger: RollupMerger
    /// How far the journal's consumers have got (`JournalMarks`).
    private var marks: JournalMarks
    /// With `tracksDerived`: journal rows up to this id have had their derived readings
    /// committed (`derived_state.upto`, written in the commit that carries them). The journal
    /// keeps the rows after it, so a restart feeds their readings to the derived series again.
    public var derivedUpTo: Int64 { marks.derivedUpTo }
    /// With `tracksDerived`, the series whose readings derived series are computed from
    /// (nil: all). Journal rows kept only for their derived readings (merged and in the
    /// blocks) are rewritten with just those series' readings (`compactJournal`).
    private let feedsDerived: (@Sendable (SeriesName) -> Bool)?
    /// Per series, whether `feedsDerived` says yes (1), no (0), or was not asked yet (-1).
    private var feeds: [Int8] = []
    /// Room for derived series beyond `limits.max_series` (`bindDerived`): by default
    /// max(10,000, a tenth of it). Readings from the network cannot use it.
    public let derivedReserve: Int
    /// The journal row the last commit wrote (nil: it accepted no new reading).
    public private(set) var lastJournalID: Int64?
    /// The journal row being written (reused between commits).
    private var packed: [UInt8] = []
    /// Topic-pattern labels of series created since the last commit.
    private var newLabels: [SeriesID: TopicLabels] = [:]

    /// Committed readings not yet written to the sample blocks (readers merge them in).
    public let rawPending = RawPending()
    /// The times of `rawPending`'s readings per series, to deduplicate a late reading without a lookup.
    private var pendingTimes = PendingTimes()
    /// Scratch for `forgetWritten`: per series index, readings written (zero between calls).
    private var forgetCounts: [Int32] = []
    private var pendingCount = 0
    /// Per series, the newest reading time accepted (in the sample blocks or pending); `unknownTime`: not
    /// looked up in the sample blocks yet.
    private var newestAccepted: ContiguousArray<EpochMillis> = []
    private static let unknownTime = EpochMillis.min
    private static let noTime = EpochMillis.min + 1
    /// Which slice of series the next raw write takes, and when.
    private var rotation: SliceRotation
    /// The time raw writes are paced by (tests move it by hand).
    private let monotonic: () -> ContinuousClock.Instant

    /// The block the exact dedupe path decoded last (its series, time range and times);
    /// forgotten whenever readings are written to blocks.
    private var lookedUp: LookedUp?
    typealias LookedUp = (series: SeriesID, first: EpochMillis, last: EpochMillis, times: Set<EpochMillis>)

    struct RawKey: Hashable {
        var series: Int32
        var time: EpochMillis
    }

    /// What one commit did.
    public struct CommitStats: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        public var quarantined = 0
    }

    /// How a commit treats its rollup deltas.
    public enum RollupMode: Sendable {
        /// Hand them (and any pending) to the merger and wait until they are merged: rollup
        /// queries see the batch once `commit` returns.
        case mergeNow
        /// Hand them to the merger without waiting.
        case handOff
        /// Keep them in memory (their readings are journaled); a later commit hands them over.
        case keep
    }

    /// Loads the series registry from `pool` (opened by `TelemetryDatabase.open`), starts the
    /// rollup merger on the rollups file, and merges what a previous run left in the journal.
    /// `rollupQueueLimit`: the merger's queue bound, in deltas (`RollupMerger.waitForRoom`);
    /// `rollupCoarseInterval`: how often the 15m, 1h and 1d tiers are merged; `rawRotation`:
    /// how long a pending reading waits, at most about, before its slice is written to the sample blocks,
    /// by the time `monotonic` tells; `rawHorizon`: the time before which raw readings may be
    /// pruned (now minus the raw retention; nil: never), so no rollup tier is dropped for raw
    /// readings that are gone (`TierSizing`).
    public init(pool: DatabasePool, timeZone: TimeZoneID, maxSeries: Int = 200_000, quarantineLimit: Int = 10_000,
                rollupQueueLimit: Int = RollupMerger.defaultQueueLimit,
                rollupCoarseInterval: Duration = RollupMerger.defaultCoarseInterval,
                rawRotation: Duration = TelemetryStore.defaultRawRotation,
                tracksDerived: Bool = false, feedsDerived: (@Sendable (SeriesName) -> Bool)? = nil,
                derivedReserve: Int? = nil, rawHorizon: (@Sendable () -> EpochMillis)? = nil,
                monotonic: @escaping () -> ContinuousClock.Instant = { ContinuousClock.now }) throws {
        self.pool = pool
        self.feedsDerived = tracksDerived ? feedsDerived : nil
        self.derivedReserve = derivedReserve ?? max(10_000, maxSeries / 10)
        self.monotonic = monotonic
        self.rotation = SliceRotation(rotation: rawRotation, now: monotonic())
        self.quarantineLimit = quarantineLimit
        self.downsampler = Downsampler(days: LocalDays(timeZone: timeZone.zone))
        var registry = SeriesRegistry(limit: maxSeries)
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, sensor, metric FROM series ORDER BY id")
            while let row = try rows.next() {
                let name = try SeriesName(sensor: row[1], metric: row[2])
                registry.load(name, id: SeriesID(row[0]))
            }
        }
        self.registry = registry
        downsampler.reserve(seriesCount: registry.count)
        newestAccepted = ContiguousArray(repeating: Self.unknownTime, count: registry.count)
        // The merger's connection follows the writer's durability and size cap.
        let (synchronous, maxPages, lastJournalID, derivedUpTo) = try pool.barrierWriteWithoutTransaction { db in
            (try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? 1,
             try Int64.fetchOne(db, sql: "PRAGMA max_page_count") ?? Int64(Int32.max),
             try JournalTable.lastID(db),
             try Int64.fetchOne(db, sql: "SELECT upto FROM derived_state WHERE id = 1") ?? 0)
        }
        merger = try RollupMerger(path: TelemetryDatabase.rollupsPath(for: pool.path), synchronous: synchronous,
                                  maxPageCount: maxPages, queueLimit: rollupQueueLimit,
                                  coarseInterval: rollupCoarseInterval, rawHorizon: rawHorizon)
        marks = JournalMarks(mergedUpTo: merger.mergedUpTo, minuteMergedUpTo: merger.minuteMergedUpTo, lastRow: lastJournalID,
                             derivedUpTo: derivedUpTo, tracksDerived: tracksDerived)
        // Readings a previous run journaled but did not write to the sample blocks or merge: do it now.
        try pool.write { try Self.writeJournalToRaw($0) }
        try mergeRollups()
    }

    deinit { merger.stop() }

    /// Writes and merges what is pending and stops the merger (at shutdown).
    /// With `sealingRollupsBefore` (the end of an import: now) every rollup row of a bucket
    /// two buckets or more before that time is sealed into rollup blocks before the merger
    /// stops; the newest stay rows, which live readings may still update.
    public func close(sealingRollupsBefore now: EpochMillis? = nil) throws {
        defer { merger.stop() }
        try writePendingRaw()
        try mergeRollups()
        // The merger seals and checkpoints the rollups file on a thread of its own meanwhile
        // (the two files share nothing): an import's end waits for the longer of the two.
        let merger = self.merger
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global(qos: .userInitiated).async {
            merger.stop(sealingBefore: now)
            stopped.signal()
        }
        defer { stopped.wait() }
        if feedsDerived != nil, let compactTo = marks.compactTarget(merged: merger.mergedUpTo) {
            try pool.write { try compactJournal(upTo: compactTo, $0) }
            marks.compacted(to: compactTo)
        }
        // What the journal freed goes back to the file system (a file created with
        // incremental auto-vacuum), and the WAL is emptied: best effort, readers may hold it.
        try? pool.barrierWriteWithoutTransaction { db in
            try db.execute(sql: "PRAGMA incremental_vacuum")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Rewrites each journal row after `marks.compactAfter` up to
    /// `id` (merged and in the blocks: kept for their derived readings only) in place, with
    /// only the readings of series that feed derived series; a row left with none goes. Rows
    /// keep their ids and stay no larger than their commits. In the caller's transaction;
    /// the caller moves `marks.compactedUpTo` once it commits.
    private func compactJournal(upTo id: Int64, _ db: Database) throws {
        guard let feedsDerived else { return }
        try JournalTable.filter(after: marks.compactAfter, upTo: id, db) { series in
            guard series.rawValue >= 0 && series.index < registry.count else { return false }
            let i = series.index
            if i >= feeds.count { feeds.append(contentsOf: repeatElement(-1, count: i + 1 - feeds.count)) }
            if feeds[i] < 0 { feeds[i] = feedsDerived(registry.name(of: series)) ? 1 : 0 }
            return feeds[i] == 1
        }
    }

    /// How long a committed reading waits, at most about, before it is written to the sample blocks:
    /// one slice of series every `defaultRawRotation / RawPending.sliceCount`.
    public static let defaultRawRotation: Duration = .seconds(10)
    /// Past this many pending readings, every commit writes a slice (memory bound).
    public static let maxPendingRaw = 2_000_000

    /// `body` gets the number of readings handed to the merger and not yet in the 1m tier of
    /// the rollups file, whenever it changes (the coarser tiers follow within
    /// `RollupMerger.defaultCoarseInterval`).
    public func observeRollupBacklog(_ body: @escaping @Sendable (Int) -> Void) {
        merger.observeBacklog(body)
    }

    /// Applies a new `storage.max_size` to both files' writers (SIGHUP).
    public func setMaxSize(_ bytes: Int64) throws {
        try pool.barrierWriteWithoutTransaction { try TelemetryDatabase.setMaxSize($0, bytes) }
        try merger.setMaxSize(bytes)
    }

    /// Binds a message's readings to series ids and appends them to `batch`, all or none:
    /// returns false (appending nothing) when the new series would exceed `limits.max_series`.
    public func bind(_ readings: [Reading], labels: TopicLabels = TopicLabels(), into batch: inout IngestBatch) -> Bool {
        // Only new series count against the cap (derived series may have taken the registry
        // past it, into their reserve: known series go on being bound).
        if registry.count + readings.count > registry.limit {
            let unknown = registry.unknownCount(readings.lazy.map(\.series))
            if unknown > 0 && registry.count + unknown > registry.limit { return false }
        }
        let before = registry.count
        for r in readings {
            guard let id = registry.intern(r.series) else { preconditionFailure("checked above") }
            if id.index >= before && (labels.unit != nil || labels.kind != nil) { newLabels[id] = labels }
            batch.readings.append(BoundReading(series: id, time: r.time, value: r.value))
        }
        reserveForNewSeries()
        return true
    }

    /// `bind` for readings named by index into `names` (a decoder that remembers names:
    /// `LineProtocolNames`, `SenMLNames`), each name interned once: `ids` maps a name's index
    /// to its series id (-1: not yet bound) and grows with `names`. All or nothing as `bind`:
    /// false, and nothing appended, when the batch's new series would pass `limits.max_series`.
    public func bind(_ readings: [IndexedReading], names: [SeriesName], ids: inout [Int32], labels: TopicLabels = TopicLabels(),
                     into batch: inout IngestBatch) -> Bool {
        if ids.count < names.count { ids.append(contentsOf: repeatElement(-1, count: names.count - ids.count)) }
        var fresh: [Int32] = []
        for r in readings where ids[Int(r.name)] == -1 {
            ids[Int(r.name)] = -2   // seen in this batch
            fresh.append(r.name)
        }
        if !fresh.isEmpty {
            let unknown = registry.unknownCount(fresh.lazy.map { names[Int($0)] })
            if unknown > 0 && registry.count + unknown > registry.limit {
                for f in fresh { ids[Int(f)] = -1 }
                return false
            }
            let before = registry.count
            for f in fresh {
                guard let id = registry.intern(names[Int(f)]) else { preconditionFailure("checked above") }
                ids[Int(f)] = id.rawValue
                if id.index >= before && (labels.unit != nil || labels.kind != nil) { newLabels[id] = labels }
            }
        }
        batch.readings.reserveCapacity(batch.readings.count + readings.count)
        ids.withUnsafeBufferPointer { ids in
            for r in readings { batch.readings.append(BoundReading(series: SeriesID(ids[Int(r.name)]), time: r.time, value: r.value)) }
        }
        reserveForNewSeries()
        return true
    }

    /// Room for the series the registry gained: their downsampler slots, and their newest
    /// time (none: a new series has nothing in the sample blocks).
    private func reserveForNewSeries() {
        guard registry.count > newestAccepted.count else { return }
        downsampler.reserve(seriesCount: registry.count)
        newestAccepted.append(contentsOf: repeatElement(Self.noTime, count: registry.count - newestAccepted.count))
    }

    /// Binds derived readings (computed by the collector, not received) one by one and appends
    /// them to `batch`: their series may use `derivedReserve` beyond `limits.max_series`, so
    /// publishers filling the cap do not stop them; a reading whose new series would exceed
    /// even that is left out (removed from `readings`). Returns how many were left out.
    public func bindDerived(_ readings: inout [Reading], into batch: inout IngestBatch) -> Int {
        let count = readings.count
        readings.removeAll { r in
            guard let id = registry.intern(r.series, limit: registry.limit + derivedReserve) else { return true }
            batch.readings.append(BoundReading(series: id, time: r.time, value: r.value))
            return false
        }
        let dropped = count - readings.count
        reserveForNewSeries()
        return dropped
    }

    /// Commits `batch` in one transaction: its new series, a `rollup_journal` row packing its
    /// new readings (duplicates of stored or pending readings left out), and its quarantined
    /// messages; when a slice is due, the pending readings of one slice of series go to the sample blocks
    /// (and each series' newest to `series.last_*`) in the same transaction. On error nothing
    /// of it is stored, the in-memory state is as before, and the caller must not acknowledge
    /// the batch's messages. The new readings are in `rawPending` when it returns.
    ///
    /// The batch's rollup deltas are handled as `rollups` says. With `.mergeNow` a failed
    /// merge is thrown after the commit succeeded: the readings are stored and journaled, and
    /// the merge is tried again.
    @discardableResult
    public func commit(_ batch: IngestBatch, now: EpochMillis, rollups: RollupMode = .mergeNow,
                       derivedUpTo: Int64? = nil) throws -> CommitStats {
        var stats = CommitStats()
        let handOver = rollups != .keep || pendingReadings + batch.readings.count > Self.maxDeferredReadings
        if handOver { try merger.waitForRoom() }
        let firstJournalID = marks.next
        let trimTo = marks.trimLimit(merged: merger.mergedUpTo)
        let compactTo = feedsDerived == nil ? nil : marks.compactTarget(merged: merger.mergedUpTo)
        let advanceDerived = derivedUpTo.flatMap { $0 > marks.derivedUpTo ? $0 : nil }
        let clock = monotonic()
        let slices = rotation.due(at: clock, pending: pendingCount, maxPending: Self.maxPendingRaw)
        var sliceWritten: [Int] = []
        do {
            try pool.write { db in
                if journalNeedsReplay { try replayJournal(db) }
                try saveNewSeries(db, now: now)
                // Deduplicated in key order (series, time). The later stages still get the new
                // readings in arrival order. Ties keep arrival order, so of two readings with
                // the same (series, time) in a batch the first one wins.
                let readings = batch.readings
                keyOrder.indices(of: readings, into: &insertOrder)
                isNew.removeAll(keepingCapacity: true)
                isNew.append(contentsOf: repeatElement(false, count: readings.count))
                try Self.markNew(readings, order: insertOrder, isNew: &isNew, newest: &newestAccepted,
                                 pending: pendingTimes, lookedUp: &lookedUp, db)
                for j in 0..<slices { sliceWritten.append(try writeRaw(slice: (rotation.next + j) % RawPending.sliceCount, db)) }
                stats.duplicates += Self.accept(readings, isNew: isNew, into: &downsampler, accepted: &accepted)
                Self.inKeyOrder(readings, order: insertOrder, isNew: isNew, into: &acceptedByKey)
                stats.inserted = accepted.count
                try journal(db)
                if let advanceDerived {
                    try db.execute(sql: "UPDATE derived_state SET upto = ? WHERE id = 1", arguments: [advanceDerived])
                }
                try trimJournal(to: trimTo, db)
                if let compactTo { try compactJournal(upTo: compactTo, db) }
                try saveQuarantine(db, batch.quarantine)
                stats.quarantined = batch.quarantine.count
            }
        } catch {
            // The deltas of this batch are mixed with those still pending: forget them all and
            // rebuild the pending ones from the journal.
            downsampler.discardDeltas()
            journalNeedsReplay = true
            pendingReadings = 0
            marks.rolledBack(to: firstJournalID)
            accepted.removeAll(keepingCapacity: true)
            acceptedByKey.removeAll(keepingCapacity: true)
            throw error
        }
        marks.trimmed(to: trimTo)
        if let compactTo { marks.compacted(to: compactTo) }
        if let advanceDerived { marks.derived(upTo: advanceDerived) }
        lastJournalID = marks.next > firstJournalID ? firstJournalID : nil
        for n in sliceWritten { sliceDone(written: n, clock: clock, before: firstJournalID - 1) }
        // Nothing pending: every journal row before this commit's has its readings in the sample blocks.
        if pendingCount == 0 { marks.rawWritten(upTo: firstJournalID - 1) }
        addPending(acceptedByKey)
        pendingReadings += accepted.count
        registry.markSaved()
        newLabels.removeAll(keepingCapacity: true)
        swap(&accepted, &committed)
        accepted.removeAll(keepingCapacity: true)
        if handOver {
            marks.handedOff()
            handDeltas(upTo: marks.handedUpTo, readings: pendingReadings)
            pendingReadings = 0
            if rollups == .mergeNow { try merger.wait(upTo: marks.handedUpTo) }
        }
        return stats
    }

    /// Commits corrections of derived series in one transaction of their own: each series'
    /// stored samples from its `from` on are replaced (`BlockStore.replace`, after its waiting
    /// readings are written to the blocks), `series.last_*` follows, and a journal row
    /// (`CorrectionPack`) records the new value of every rollup bucket that changed, computed
    /// from the blocks in the same transaction. The merger then sets those buckets, after every
    /// delta handed to it before (so they are exact: a set bucket holds every reading committed
    /// so far). A restart replays the row as the same sets. Returns each correction bound to
    /// its series (a series that would exceed `limits.max_series` and the derived reserve is
    /// left out). On error nothing of it is stored.
    @discardableResult
    public func commitCorrections(_ corrections: [SeriesCorrection], now: EpochMillis) throws
        -> [(series: SeriesID, from: EpochMillis, samples: [Sample])] {
        guard !corrections.isEmpty else { return [] }
        // Every delta so far goes to the merger first: the sets must come after them.
        try merger.waitForRoom()
        try handOffRollups()
        var bound: [(series: SeriesID, from: EpochMillis, samples: [Sample])] = []
        for var c in corrections {
            guard let id = registry.intern(c.series, limit: registry.limit + derivedReserve) else { continue }
            c.samples.removeAll { $0.time < c.from }
            if let k = bound.firstIndex(where: { $0.series == id }) {
                let merged = SeriesCorrection(series: c.series, from: bound[k].from, samples: bound[k].samples).followed(by: c)
                bound[k] = (id, merged.from, merged.samples)
            } else {
                bound.append((id, c.from, c.samples))
            }
        }
        reserveForNewSeries()
        guard !bound.isEmpty else { return [] }
        let rowID = marks.next
        let slices = Array(Set(bound.map { RawPending.slice(of: $0.series) })).sorted()
        var written: [(slice: Int, count: Int)] = []
        var entries: [CorrectionPack.Entry] = []
        try pool.write { db in
            try saveNewSeries(db, now: now)
            // A corrected series has nothing waiting: its slice is written first.
            for k in slices { written.append((k, try writeRaw(slice: k, db))) }
            for (id, from, samples) in bound {
                let removed = try BlockStore.replace(series: id, from: from, with: samples, db)
                entries.append(CorrectionPack.Entry(series: id, from: from,
                                                    buckets: try correctedBuckets(id, changed: removed + samples, db)))
                // `last_*` follows the blocks, back too.
                let newest = try BlockStore.newest(1, series: id, db).last
                try db.cachedStatement(sql: "UPDATE series SET last_t = ?, last_value = ? WHERE id = ?").execute(
                    arguments: [newest?.time, newest?.value, id.rawValue])
            }
            let insert = try db.cachedStatement(sql: "INSERT INTO rollup_journal (id, readings) VALUES (?, ?)")
            try insert.execute(arguments: [rowID, Data(CorrectionPack.encode(entries))])
        }
        marks.journaled()
        lastJournalID = rowID
        committed.removeAll(keepingCapacity: true)
        registry.markSaved()
        newLabels.removeAll(keepingCapacity: true)
        lookedUp = nil
        for (id, _, _) in bound { newestAccepted[id.index] = Self.unknownTime }
        for (k, n) in written { forgetWritten(n, ofSlice: k) }
        if pendingCount == 0 { marks.rawWritten(upTo: rowID - 1) }
        merger.submitSets(entries.flatMap(\.buckets), upTo: rowID)
        marks.handedOff()
        return bound
    }

    /// The buckets of every tier holding a time in `changed`, each with what the sample blocks
    /// of `id` hold in it now (empty: none left): one scan of the blocks over their span.
    private func correctedBuckets(_ id: SeriesID, changed: [Sample], _ db: Database) throws -> [(key: BucketKey, bucket: Bucket)] {
        guard !changed.isEmpty else { return [] }
        var buckets: [[EpochMillis: Bucket]] = Array(repeating: [:], count: Tier.allCases.count)
        var low = EpochMillis.max, high = EpochMillis.min
        for tier in Tier.allCases {
            for s in changed {
                let start = downsampler.bucketStart(tier, s.time)
                guard buckets[tier.rawValue][start] == nil else { continue }
                buckets[tier.rawValue][start] = .empty
                let end = tier == .day ? downsampler.days.day(containing: start).end : start + tier.widthMillis
                low = min(low, start)
                high = max(high, end)
            }
        }
        try BlockStore.forEach(series: id, from: low, to: high, db) { s in
            for tier in Tier.allCases { buckets[tier.rawValue][downsampler.bucketStart(tier, s.time)]?.add(time: s.time, value: s.value) }
            return true
        }
        var out: [(key: BucketKey, bucket: Bucket)] = []
        for tier in Tier.allCases {
            for (start, b) in buckets[tier.rawValue].sorted(by: { $0.key < $1.key }) {
                out.append((BucketKey(tier: tier, series: id, start: start), b))
            }
        }
        return out
    }

    /// Committed readings not yet written to the sample blocks (`rawPending.count`, without its lock).
    public var rawPendingCount: Int { pendingCount }
    /// Readings committed whose rollup deltas are not yet handed to the merger.
    public private(set) var pendingReadings = 0
    /// Whether some committed readings are not yet in the rollups (`mergeRollups()` merges them).
    public var hasPendingRollups: Bool { journalNeedsReplay || pendingReadings > 0 || merger.mergedUpTo < marks.handedUpTo }
    /// Whether some committed readings are not yet handed to the merger (`handOffRollups()`).
    public var hasUnhandedRollups: Bool { journalNeedsReplay || pendingReadings > 0 }
    /// A `.keep` commit hands over anyway past this many pending readings (memory bound).
    public static let maxDeferredReadings = 1_000_000
    /// Whether the in-memory pending deltas must be rebuilt from `rollup_journal` (at start,
    /// and after a failed commit).
    private var journalNeedsReplay = true

    /// Hands every pending delta to the merger and waits until the rollups file holds them,
    /// then empties the journal of what is merged.
    public func mergeRollups() throws {
        if hasUnhandedRollups { try commit(IngestBatch(), now: 0, rollups: .mergeNow) }
        try merger.wait(upTo: marks.handedUpTo)
        let merged = marks.trimLimit(merged: merger.mergedUpTo)
        if merged > marks.trimmedUpTo {
            try pool.write { try trimJournal(to: merged, $0) }
            marks.trimmed(to: merged)
        }
    }

    /// Hands every pending delta to the merger without waiting (the ingest loop, when idle).
    public func handOffRollups() throws {
        guard hasUnhandedRollups else { return }
        try commit(IngestBatch(), now: 0, rollups: .handOff)
    }

    /// The newest reading time of `name` in this store (pending or in its sample blocks); nil
    /// when it holds none.
    public func newestTime(of name: SeriesName) throws -> EpochMillis? {
        guard let id = registry.id(of: name) else { return nil }
        var t = id.index < newestAccepted.count ? newestAccepted[id.index] : Self.unknownTime
        if t == Self.unknownTime {
            t = try pool.read { db in try BlockStore.newestTime(series: id, db) } ?? Self.noTime
            if id.index < newestAccepted.count { newestAccepted[id.index] = t }
        }
        return t == Self.noTime ? nil : t
    }

    // The per-reading loops of a commit take the store's state as inout parameters: one
    // exclusivity check a batch, not several a reading (they were a sixth of an import's
    // committing thread).

    /// Marks in `isNew` the readings, in key `order`, that are new: the first of their key in
    /// the batch, and newer than any reading of their series accepted, or neither pending nor
    /// in the sample blocks.
    private static func markNew(_ readings: [BoundReading], order: [Int], isNew: inout [Bool],
                                newest: inout ContiguousArray<EpochMillis>, pending: PendingTimes,
                                lookedUp: inout LookedUp?, _ db: Database) throws {
        var previous: RawKey?
        for i in order {
            let r = readings[i]
            let key = RawKey(series: r.series.rawValue, time: r.time)
            if key == previous { continue }
            previous = key
            isNew[i] = try isNewReading(r, newest: &newest, pending: pending, lookedUp: &lookedUp, db)
        }
    }

    /// Whether `r` (not a repeat of the reading before it in key order) is new: newer than any
    /// reading of its series accepted, or neither pending nor in the sample blocks.
    private static func isNewReading(_ r: BoundReading, newest: inout ContiguousArray<EpochMillis>, pending: PendingTimes,
                                     lookedUp: inout LookedUp?, _ db: Database) throws -> Bool {
        var newestTime = newest[r.series.index]
        if newestTime == Self.unknownTime {
            // First reading of a series this run: nothing of it is pending yet.
            newestTime = try BlockStore.newestTime(series: r.series, db) ?? Self.noTime
            newest[r.series.index] = newestTime
        }
        if r.time > newestTime { return true }
        if pending.contains(r.time, series: r.series.index) { return false }
        // The block covering it: a backlog's late readings of a series come in key order, so
        // one decoded block answers a run of them (kept until blocks are written).
        if let c = lookedUp, c.series == r.series, c.first <= r.time, r.time <= c.last {
            return !c.times.contains(r.time)
        }
        guard let block = try BlockStore.covering(series: r.series, time: r.time, db) else { return true }
        lookedUp = (r.series, block.first, block.last, Set(block.samples.lazy.map(\.time)))
        return !lookedUp!.times.contains(r.time)
    }

    /// The new readings (`isNew`) go to the downsampler and `accepted`; returns how many
    /// were not new.
    private static func accept(_ readings: [BoundReading], isNew: [Bool], into downsampler: inout Downsampler,
                               accepted: inout [BoundReading]) -> Int {
        var duplicates = 0
        for (i, r) in readings.enumerated() {
            if isNew[i] {
                downsampler.add(series: r.series, time: r.time, value: r.value)
                accepted.append(r)
            } else {
                duplicates += 1
            }
        }
        return duplicates
    }

    /// The new readings of `readings` (`isNew`) in key `order`.
    private static func inKeyOrder(_ readings: [BoundReading], order: [Int], isNew: [Bool], into out: inout [BoundReading]) {
        out.removeAll(keepingCapacity: true)
        for i in order where isNew[i] { out.append(readings[i]) }
    }

    /// After a successful commit: its new readings become pending.
    private func addPending(_ readings: [BoundReading]) {
        guard !readings.isEmpty else { return }
        Self.notePending(readings, times: &pendingTimes, newest: &newestAccepted)
        pendingCount += readings.count
        rawPending.add(readings)
    }

    private static func notePending(_ readings: [BoundReading], times: inout PendingTimes, newest: inout ContiguousArray<EpochMillis>) {
        for r in readings {
            times.insert(r.time, series: r.series.index)
            if newest[r.series.index] < r.time { newest[r.series.index] = r.time }
        }
    }

    /// Writes the pending readings of slice `k` to the sample blocks, in key order, in the caller's
    /// transaction; returns how many (they stay pending until `sliceDone`).
    private func writeRaw(slice k: Int, _ db: Database) throws -> Int {
        let rows = rawPending.readings(inSlice: k)
        guard !rows.isEmpty else { return 0 }
        lookedUp = nil
        try Self.insertRaw(rows, db)
        return rows.count
    }

    /// After the commit that wrote slice `rotation.next` (`written` readings, the first of
    /// that slice): they leave `rawPending`. `before`: the last journal id before that
    /// commit's own row.
    private func sliceDone(written: Int, clock: ContinuousClock.Instant, before: Int64) {
        forgetWritten(written, ofSlice: rotation.next)
        if let upTo = rotation.written(at: clock, before: before) { marks.rawWritten(upTo: upTo) }
    }

    /// Whether committed readings wait for the sample blocks (`writePendingSlice` writes them).
    public var hasPendingRaw: Bool { pendingCount > 0 }

    /// Writes the next slice's pending readings to the sample blocks in a transaction of its own, and
    /// trims the journal of what is written and merged (the ingest loop, when idle: under
    /// load the commits write one slice every `rawRotation / RawPending.sliceCount`: `SliceRotation`).
    public func writePendingSlice() throws {
        guard pendingCount > 0 else { return }
        let k = rotation.next
        let trimTo = marks.trimLimit(merged: merger.mergedUpTo)
        let written = try pool.write { db in
            try trimJournal(to: trimTo, db)
            return try writeRaw(slice: k, db)
        }
        marks.trimmed(to: trimTo)
        sliceDone(written: written, clock: monotonic(), before: marks.next - 1)
        if pendingCount == 0 { marks.rawWritten(upTo: marks.next - 1) }
    }

    /// The journal rows after `id`, oldest first: at a start, the readings whose derived
    /// readings a previous run may not have committed (`derivedUpTo`).
    public func journal(after id: Int64, limit: Int = .max) throws -> [(id: Int64, readings: [BoundReading])] {
        try pool.read { try JournalTable.rows(after: id, limit: limit, $0) }
    }

    /// How many readings the journal rows after `id` hold (read a row at a time).
    public func journalReadingCount(after id: Int64) throws -> Int {
        try pool.read { try JournalTable.readingCount(after: id, $0) }
    }

    /// Deletes the journal rows up to `id` (merged and in the sample blocks), in the caller's transaction,
    /// unless they are gone already; the caller moves `marks.trimmedUpTo` once it commits.
    private func trimJournal(to id: Int64, _ db: Database) throws {
        guard id > marks.trimmedUpTo else { return }
        try JournalTable.delete(upTo: id, db)
    }

    /// The first `n` pending readings of slice `k` are in the sample blocks now: they stop being pending.
    private func forgetWritten(_ n: Int, ofSlice k: Int) {
        guard n > 0 else { return }
        // Usually every pending reading of a series is among them: its times go at once;
        // otherwise one by one. (Counted per series in a reused array, not a dictionary.)
        let readings = rawPending.readings(inSlice: k).prefix(n)
        var touched: [Int] = []
        for r in readings {
            let i = r.series.index
            if i >= forgetCounts.count { forgetCounts.append(contentsOf: repeatElement(0, count: i + 1 - forgetCounts.count)) }
            if forgetCounts[i] == 0 { touched.append(i) }
            forgetCounts[i] += 1
        }
        for i in touched where forgetCounts[i] == pendingTimes.count(series: i) {
            pendingTimes.removeAll(series: i)
            forgetCounts[i] = 0
        }
        for r in readings where forgetCounts[r.series.index] > 0 { pendingTimes.remove(r.time, series: r.series.index) }
        for i in touched { forgetCounts[i] = 0 }
        pendingCount -= rawPending.remove(first: n, ofSlice: k)
    }

    /// Writes every pending reading to the sample blocks now (at shutdown; tests).
    public func writePendingRaw() throws {
        guard pendingCount > 0 else {
            marks.rawWritten(upTo: marks.next - 1)
            return
        }
        var written = [Int](repeating: 0, count: RawPending.sliceCount)
        try pool.write { db in
            for k in 0..<RawPending.sliceCount { written[k] = try writeRaw(slice: k, db) }
        }
        for k in 0..<RawPending.sliceCount where written[k] > 0 { forgetWritten(written[k], ofSlice: k) }
        marks.rawWritten(upTo: marks.next - 1)
        rotation.restart()
    }

    /// Writes the readings of every journal row to the sample blocks (at start: a previous run may have
    /// journaled readings it never wrote there). Readings already there are left as they are.
    private static func writeJournalToRaw(_ db: Database) throws {
        // A correction replaced its series' readings from a time on: an earlier row's
        // readings of that series from then on are not written back.
        var corrected: [SeriesID: [(id: Int64, from: EpochMillis)]] = [:]
        try JournalTable.forEachRow(after: .min, db) { id, bytes in
            guard CorrectionPack.isCorrection(bytes) else { return }
            for e in try CorrectionPack.decode(bytes) { corrected[e.series, default: []].append((id, e.from)) }
        }
        var readings: [BoundReading] = []
        try JournalTable.forEachRow(after: .min, db) { id, bytes in
            try JournalPack.forEach(in: bytes) { r in
                if let later = corrected[r.series], later.contains(where: { $0.id > id && $0.from <= r.time }) { return }
                readings.append(r)
            }
            // A million readings at a time: memory stays bounded however long the journal.
            if readings.count >= 1_000_000 {
                try insertRaw(readings, db)
                readings.removeAll(keepingCapacity: true)
            }
        }
        try insertRaw(readings, db)
    }

    /// Stores `readings` in their series' sample blocks (`BlockStore`), a series at a time; a
    /// reading already stored is left as it is. Each series' newest of them goes to
    /// `series.last_*` unless that is newer already (so `last_*` follows the stored readings).
    private static func insertRaw(_ readings: [BoundReading], _ db: Database) throws {
        var order = KeyOrder()
        let sorted = order.sorted(readings)
        let last = try db.cachedStatement(sql: """
            UPDATE series SET last_t = ?1, last_value = ?2 WHERE id = ?3 AND (last_t IS NULL OR last_t < ?1)
            """)
        var run: [Sample] = []
        for (i, r) in sorted.enumerated() {
            run.append(Sample(time: r.time, value: r.value))
            guard i == sorted.count - 1 || sorted[i + 1].series != r.series else { continue }
            try BlockStore.insert(run, series: r.series, db)
            run.removeAll(keepingCapacity: true)
            try FastStep.run(last, db) { h in
                sqlite3_bind_int64(h, 1, r.time)
                sqlite3_bind_double(h, 2, r.value)
                sqlite3_bind_int64(h, 3, Int64(r.series.rawValue))
            }
        }
    }

    /// Deletes raw readings older than `before` (rollups are kept), series by series, in
    /// transactions of `seriesPerCommit`, so the write lock is never held long; returns how
    /// many readings went.
    @discardableResult
    public func pruneRaw(before: EpochMillis, seriesPerCommit: Int = 2_000) throws -> Int {
        lookedUp = nil
        var deleted = 0
        var start = 0
        while start < registry.count {
            let end = min(start + seriesPerCommit, registry.count)
            deleted += try pool.write { db in
                var n = 0
                for id in start..<end { n += try BlockStore.delete(series: SeriesID(Int32(id)), before: before, db) }
                return n
            }
            start = end
        }
        return deleted
    }

    /// Deletes the buckets of `tier` that start before `before` (every series, a few thousand
    /// a transaction; rows and sealed blocks, in the rollups file); returns how many went.
    @discardableResult
    public func pruneRollups(_ tier: Tier, before: EpochMillis) throws -> Int {
        try merger.prune(tier, before: before, seriesCount: registry.count)
    }

    private func saveNewSeries(_ db: Database, now: EpochMillis) throws {
        guard !registry.unsaved.isEmpty else { return }
        let stmt = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO series (id, name, sensor, metric, first_seen, unit, kind) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for id in registry.unsaved {
            let n = registry.name(of: id)
            let l = newLabels[id]
            try stmt.execute(arguments: [id.rawValue, n.description, n.sensor, n.metric, now, l?.unit, l?.kind])
        }
    }

    /// Appends this commit's new readings to the journal: one row, id `marks.next`, its
    /// readings packed (`JournalPack`).
    private func journal(_ db: Database) throws {
        guard !acceptedByKey.isEmpty else { return }
        try JournalTable.append(id: marks.next, acceptedByKey, buffer: &packed, db)
        marks.journaled()
    }

    /// Hands every pending delta to the merger, for journal ids up to `upTo`, as one job in
    /// chunks of the merger's recycled buffers (`RollupMerger.buffer`): a backlog's handover
    /// holds hundreds of thousands of deltas, and a new array of that size is fresh memory,
    /// every page of it a fault. The tiers the merger found answered from raw are dropped
    /// first (`Downsampler.answerFromRaw`).
    private func handDeltas(upTo: Int64, readings: Int) {
        for (tier, series) in merger.takeAnsweredFromRaw() { downsampler.answerFromRaw(tier, series: series) }
        var parts: [[(key: BucketKey, bucket: Bucket)]] = []
        var deltas = merger.buffer()
        downsampler.drain { key, b in
            deltas.append((key, b))
            if deltas.count == RollupMerger.chunkDeltas {
                parts.append(deltas)
                deltas = merger.buffer()
            }
        }
        parts.append(deltas)
        merger.submit(parts: parts, upTo: upTo, readings: readings)
    }

    /// Rebuilds the pending deltas from the journal rows not yet handed to the
    /// merger, in the caller's transaction: those readings are in the sample blocks but not in the rollups.
    private func replayJournal(_ db: Database) throws {
        downsampler.discardDeltas()
        var n = 0
        try JournalTable.forEachRow(after: marks.handedUpTo, db) { id, bytes in
            let minuteMerged = id <= marks.minuteMergedUpTo
            if CorrectionPack.isCorrection(bytes) {
                // The deltas before it go first, then its sets (a 1m set the merger applied
                // already may have later deltas on it: not set again).
                try merger.waitForRoom()
                handDeltas(upTo: id - 1, readings: n)
                n = 0
                let sets = try CorrectionPack.decode(bytes).flatMap(\.buckets).filter { !minuteMerged || $0.key.tier != .minute }
                merger.submitSets(sets, upTo: id)
                marks.handed(upTo: id)
                return
            }
            try JournalPack.forEach(in: bytes) { r in
                // The journal and the series rows are written in the same transactions.
                guard r.series.rawValue >= 0 && r.series.index < registry.count else { return }
                if minuteMerged {
                    downsampler.addToCoarserTiers(series: r.series, time: r.time, value: r.value)
                } else {
                    downsampler.add(series: r.series, time: r.time, value: r.value)
                }
                n += 1
            }
        }
        pendingReadings = n
        journalNeedsReplay = false
    }

    private func saveQuarantine(_ db: Database, _ records: [QuarantineRecord]) throws {
        guard !records.isEmpty else { return }
        let stmt = try db.cachedStatement(sql: "INSERT INTO quarantine (received, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)")
        for q in records {
            try stmt.execute(arguments: [q.received, q.topic, q.reason, q.detail, Data(q.payload)])
        }
        try db.execute(sql: "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?", arguments: [quarantineLimit])
    }
}

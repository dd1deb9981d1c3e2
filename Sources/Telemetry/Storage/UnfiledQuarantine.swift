/// The quarantine records the shared store (PostgreSQL) holds but the collector's own file
/// does not: those of a batch committed to the shared store whose file commit then failed (a
/// full disk). The broker redelivers the batch's messages; the batches that carry them again
/// store their records in the file only. Readings need no such care (the shared store
/// dedupes them by series and time); records have no key, so without this each failed
/// attempt would store them there once more.
///
/// A record is matched by topic, reason, detail and payload, each waiting record once. One
/// not seen again within `keepMillis` (the broker dropped its message, or a new identical bad
/// message would be taken for it) is forgotten; at most `limit` wait, the oldest forgotten
/// first. A kill between the two commits forgets them all: those records are then stored
/// again, as before.
public struct UnfiledQuarantine: Sendable {
    struct Key: Hashable, Sendable {
        var topic: String
        var reason: String
        var detail: String
        var payload: [UInt8]

        init(_ r: QuarantineRecord) {
            (topic, reason, detail, payload) = (r.topic, r.reason, r.detail, r.payload)
        }
    }

    /// What one commit does: the records the shared store must get, and those it holds already.
    public struct Plan: Sendable {
        public var fresh: [QuarantineRecord]
        var matched: [Key: Int]
    }

    /// Each waiting record's key, with the times it was stored in the shared store, oldest first.
    private var waiting: [Key: [EpochMillis]] = [:]
    public private(set) var count = 0
    public let keepMillis: EpochMillis
    public let limit: Int

    public init(keepMillis: EpochMillis = 10 * 60_000, limit: Int = 10_000) {
        self.keepMillis = keepMillis
        self.limit = limit
    }

    /// Splits a batch's records: those the shared store holds already (each waiting record
    /// matched once) and the fresh ones. Changes nothing until the commits' outcome is known.
    public func plan(_ records: [QuarantineRecord], now: EpochMillis) -> Plan {
        guard count > 0 else { return Plan(fresh: records, matched: [:]) }
        var fresh: [QuarantineRecord] = []
        var matched: [Key: Int] = [:]
        for r in records {
            let key = Key(r)
            let live = waiting[key]?.count { now - $0 <= keepMillis } ?? 0
            if matched[key, default: 0] < live {
                matched[key, default: 0] += 1
            } else {
                fresh.append(r)
            }
        }
        return Plan(fresh: fresh, matched: matched)
    }

    /// Both stores took the batch: the matched records are in the file now.
    public mutating func bothCommitted(_ plan: Plan, now: EpochMillis) {
        expire(now: now)   // (so the oldest left are the live ones `plan` matched)
        for (key, n) in plan.matched {
            guard var times = waiting[key] else { continue }
            let filed = min(n, times.count)
            times.removeFirst(filed)
            count -= filed
            waiting[key] = times.isEmpty ? nil : times
        }
        expire(now: now)
    }

    /// The shared store took the batch, the file did not: its fresh records wait too, and the
    /// matched ones, seen again, wait from now.
    public mutating func sharedOnly(_ plan: Plan, now: EpochMillis) {
        expire(now: now)
        for (key, n) in plan.matched {
            guard var times = waiting[key] else { continue }
            let seen = min(n, times.count)
            times.removeFirst(seen)
            waiting[key] = times + Array(repeating: now, count: seen)
        }
        for r in plan.fresh { waiting[Key(r), default: []].append(now) }
        count += plan.fresh.count
        expire(now: now)
    }

    private mutating func expire(now: EpochMillis) {
        guard count > 0 else { return }
        for (key, times) in waiting {
            let kept = times.filter { now - $0 <= keepMillis }
            if kept.count != times.count {
                count -= times.count - kept.count
                waiting[key] = kept.isEmpty ? nil : kept
            }
        }
        while count > limit, let oldest = waiting.min(by: { $0.value[0] < $1.value[0] }) {
            var times = oldest.value
            times.removeFirst()
            count -= 1
            waiting[oldest.key] = times.isEmpty ? nil : times
        }
    }
}

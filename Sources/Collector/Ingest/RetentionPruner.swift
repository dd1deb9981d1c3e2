import Alerts
import Dispatch
import Logging
import Synchronization
import Telemetry

/// Once an hour, on the ingest thread: raw readings older than max(raw_retention, accept_age)
/// go (they are the dedupe index, so they stay as long as a reading that old could still be
/// accepted), each rollup tier's buckets older than its `rollup_retention`, and resolved or
/// cancelled alerts last changed before `alert_retention`. The same in the shared store when
/// one is given (by one collector: the province lease's holder).
struct RetentionPruner {
    static let every: EpochMillis = 3_600_000
    let storage: CollectorConfig.StorageConfig
    private var lastRun: EpochMillis = 0
    /// Whether a pruning of the shared store is under way (it runs off the ingest thread: a
    /// first one over years of blocks takes a while, a short transaction at a time).
    private let sharedRunning = SharedFlag()

    final class SharedFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    init(storage: CollectorConfig.StorageConfig) { self.storage = storage }

    mutating func runIfDue(now: EpochMillis, store: TelemetryStore, shared: PostgresStore? = nil, logger: Logger) {
        guard now - lastRun >= Self.every else { return }
        lastRun = now
        if let shared, !sharedRunning.value.exchange(true, ordering: .acquiringAndReleasing) {
            let (storage, flag) = (storage, sharedRunning)
            DispatchQueue.global(qos: .utility).async {
                Self.prune(shared, storage: storage, now: now, logger: logger)
                flag.value.store(false, ordering: .releasing)
            }
        }
        let keep = storage.rawKeepMillis
        do {
            let n = try store.pruneRaw(before: now - keep)
            if n > 0 { logger.info("pruned raw readings", metadata: ["deleted": "\(n)", "older_than_days": "\(keep / 86_400_000)"]) }
        } catch {
            logger.warning("pruning raw readings failed; will retry in an hour", metadata: ["error": "\(error)"])
        }
        for tier in Tier.allCases {
            guard let keep = storage.rollupRetentionMillis[tier] ?? nil else { continue }
            do {
                let n = try store.pruneRollups(tier, before: now - keep)
                if n > 0 { logger.info("pruned rollup buckets", metadata: ["tier": "\(tier)", "deleted": "\(n)", "older_than_days": "\(keep / 86_400_000)"]) }
            } catch {
                logger.warning("pruning rollups failed; will retry in an hour", metadata: ["tier": "\(tier)", "error": "\(error)"])
            }
        }
        if let keep = storage.alertRetentionMillis {
            do {
                let n = try AlertStore(pool: store.pool).pruneResolved(before: now - keep)
                if n > 0 { logger.info("pruned resolved alerts", metadata: ["deleted": "\(n)", "older_than_days": "\(keep / 86_400_000)"]) }
            } catch {
                logger.warning("pruning resolved alerts failed; will retry in an hour", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The shared store's blocks past retention (whole blocks: see `PostgresStore.pruneRaw`).
    private static func prune(_ shared: PostgresStore, storage: CollectorConfig.StorageConfig, now: EpochMillis, logger: Logger) {
        do {
            let n = try shared.pruneRaw(before: now - storage.rawKeepMillis)
            if n > 0 { logger.info("pruned raw blocks of the shared store", metadata: ["deleted": "\(n)"]) }
            for tier in Tier.allCases {
                guard let keep = storage.rollupRetentionMillis[tier] ?? nil else { continue }
                let n = try shared.pruneRollups(tier, before: now - keep)
                if n > 0 { logger.info("pruned rollup blocks of the shared store", metadata: ["tier": "\(tier)", "deleted": "\(n)"]) }
            }
            if let keep = storage.alertRetentionMillis {
                let n = try PostgresAlertStore.pruneResolved(shared, before: now - keep)
                if n > 0 { logger.info("pruned resolved alerts of the shared store", metadata: ["deleted": "\(n)"]) }
            }
        } catch {
            logger.warning("pruning the shared store failed; will retry in an hour", metadata: ["error": "\(error)"])
        }
    }
}

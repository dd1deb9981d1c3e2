import Logging
import Telemetry

/// Once an hour, on the ingest thread: raw readings older than max(raw_retention, accept_age)
/// go (they are the dedupe index, so they stay as long as a reading that old could still be
/// accepted), and each rollup tier's buckets older than its `rollup_retention`.
struct RetentionPruner {
    static let every: EpochMillis = 3_600_000
    let storage: CollectorConfig.StorageConfig
    private var lastRun: EpochMillis = 0

    init(storage: CollectorConfig.StorageConfig) { self.storage = storage }

    mutating func runIfDue(now: EpochMillis, store: TelemetryStore, logger: Logger) {
        guard now - lastRun >= Self.every else { return }
        lastRun = now
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
    }
}

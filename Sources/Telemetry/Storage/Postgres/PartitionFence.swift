/// The fencing check of a store shared by several collectors: each partition's newest fencing
/// token (the revision that created its lease, which grows with every new holder) is kept in
/// the store, and every commit of the partition's readings checks its own token against it in
/// the same transaction. A holder whose lease ran out while its commit was under way then
/// fails there, instead of writing beside the new holder.
public enum PartitionFence {
    /// The table it keeps.
    public static let schema = "CREATE TABLE IF NOT EXISTS partition_fence (partition text PRIMARY KEY, token bigint NOT NULL)"

    /// A newer holder has committed for the partition: this one's commit must fail.
    public struct Stale: Error, CustomStringConvertible {
        public let partition: String
        public let token: UInt64
        public let newer: UInt64
        public var description: String {
            "partition \(partition): fencing token \(token) is stale (a holder with token \(newer) has written; "
                + "if no other collector holds the partition, its lease bucket was made afresh: see the README, \"fencing token\")"
        }
    }

    /// Inside an open transaction: records `token` as the partition's newest, or throws
    /// `Stale` when a newer one is recorded. The partition's row stays locked until the
    /// transaction ends, so an older holder's commit waits for a newer one's, then fails.
    public static func check(_ c: PostgresConnection, partition: String, token: UInt64) throws {
        let rows = try c.execute("""
            INSERT INTO partition_fence (partition, token) VALUES ($1, $2)
            ON CONFLICT (partition) DO UPDATE SET token = EXCLUDED.token WHERE partition_fence.token <= EXCLUDED.token
            RETURNING token
            """, [.text(partition), .int(Int64(token))])
        guard rows.isEmpty else { return }
        let row = try c.execute("SELECT token FROM partition_fence WHERE partition = $1", [.text(partition)]).first
        let newer = row?.first.flatMap { $0 }.flatMap { UInt64($0) } ?? 0
        throw Stale(partition: partition, token: token, newer: newer)
    }
}

import Foundation
import Testing
import Telemetry

/// Groundwork for the shared store (issue 29, part 1), against a real PostgreSQL primary and a
/// synchronous replica: the fencing check fails a stale holder's commit, and a failover (the
/// primary SIGKILLed, the replica promoted) loses no committed transaction; a new connection
/// by the multi-host URL finds the promoted replica.
@Suite(.serialized) struct PostgresFailoverTests {
    @Test(.timeLimit(.minutes(2))) func aStaleHolderFailsAndAFailoverLosesNothing() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pg = try PostgresCluster(dir: dir)
        defer { pg.stop() }
        try await pg.waitSynchronous()

        let c = try PostgresConnection(pg.url)
        try c.execute(PartitionFence.schema)
        try c.execute("CREATE TABLE journal (id bigserial PRIMARY KEY, partition text NOT NULL, token bigint NOT NULL, body bytea NOT NULL)")
        func commit(_ c: PostgresConnection, token: UInt64, holder: String = "a", body: [UInt8]) throws {
            try c.transaction {
                try PartitionFence.check(c, .init(partition: "north", token: token, holder: holder))
                try c.execute("INSERT INTO journal (partition, token, body) VALUES ($1, $2, $3)", [.text("north"), .int(Int64(token)), .bytes(body)])
            }
        }
        try commit(c, token: 7, body: [0, 1, 2, 255])
        try commit(c, token: 7, body: [0, 1, 2, 255])   // the same holder commits again
        // The same token from another holder (a lease store that handed it out twice) is refused.
        #expect(throws: PartitionFence.Stale.self) { try commit(c, token: 7, holder: "b", body: [8]) }
        // A holder whose lease ran out (an older token) cannot commit any more.
        #expect(throws: PartitionFence.Stale.self) { try commit(c, token: 5, body: [9]) }
        // A newer holder can; each commit returns only once the synchronous replica has applied
        // it (`remote_apply`): read on the replica right after each, it is there.
        var behind: [Int] = []
        for i in 0..<100 {
            try commit(c, token: 9, body: [UInt8(i)])
            if i % 10 == 0, try pg.psql(pg.replicaPort.port, "SELECT count(*) FROM journal") != String(i + 3) { behind.append(i) }
        }
        #expect(behind.isEmpty, "the replica lagged after commits \(behind)")
        #expect(try c.execute("SELECT encode(body, 'hex') FROM journal WHERE token = 7") == [["000102ff"], ["000102ff"]])

        try pg.killPrimary()
        #expect(throws: PostgresConnection.Failure.self) { try c.execute("SELECT 1") }
        try pg.promoteReplica()
        let after = try PostgresConnection(pg.url)
        #expect(try after.execute("SELECT count(*), min(token), max(token) FROM journal") == [["102", "7", "9"]])
        #expect(try after.execute("SELECT token FROM partition_fence WHERE partition = 'north'") == [["9"]])
        // The promoted replica takes writes, and still fences.
        try commit(after, token: 11, body: [1])
        #expect(throws: PartitionFence.Stale.self) { try commit(after, token: 9, body: [2]) }
    }
}

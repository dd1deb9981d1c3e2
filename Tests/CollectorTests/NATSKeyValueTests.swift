import CNATS
import Foundation
import Testing
@testable import Collector

/// The lease's key-value bucket on a real three-node cluster: reads come from the stream's
/// leader, conditional writes are refused for a wrong revision, and a bucket made by an
/// earlier version (its entries expiring after the lease) loses its expiry but keeps its
/// sequence, so fencing tokens taken from it keep growing.
@Suite(.serialized) struct NATSKeyValueTests {
    /// Runs `body` with a JetStream context of a plain libnats connection to `servers[0]`.
    static func withJetStream<T>(_ servers: [String], _ body: (OpaquePointer?) throws -> T) throws -> T {
        var nc: OpaquePointer?
        var js: OpaquePointer?
        defer {
            if let js { jsCtx_Destroy(js) }
            if let nc { natsConnection_Destroy(nc) }
        }
        guard natsConnection_ConnectTo(&nc, servers[0]) == NATS_OK, natsConnection_JetStream(&js, nc, nil) == NATS_OK else {
            throw HarnessError("connect to \(servers[0])")
        }
        return try body(js)
    }

    /// Makes `bucket` as earlier versions did (entries expire `ttlSeconds` after their write)
    /// and writes `key` `writes` times; returns the last revision.
    static func expiringBucket(_ servers: [String], bucket: String, ttlSeconds: Int64, key: String, writes: Int) throws -> UInt64 {
        try withJetStream(servers) { js in
            var kv: OpaquePointer?
            defer { if let kv { kvStore_Destroy(kv) } }
            var cfg = kvConfig()
            kvConfig_Init(&cfg)
            let created = bucket.withCString { name -> natsStatus in
                cfg.Bucket = name
                cfg.History = 1
                cfg.TTL = ttlSeconds * 1_000_000_000
                cfg.Replicas = 3
                return js_CreateKeyValue(&kv, js, &cfg)
            }
            guard created == NATS_OK else { throw HarnessError("create \(bucket): \(created)") }
            var revision: UInt64 = 0
            for i in 0..<writes {
                guard kvStore_PutString(&revision, kv, key, "old-\(i)") == NATS_OK else { throw HarnessError("put") }
            }
            return revision
        }
    }

    /// Deletes `key` in `bucket` as an operator would (`nats kv del`): a delete marker.
    static func deleteKey(_ servers: [String], bucket: String, key: String) throws {
        try withJetStream(servers) { js in
            var kv: OpaquePointer?
            defer { if let kv { kvStore_Destroy(kv) } }
            guard js_KeyValue(&kv, js, bucket) == NATS_OK, kvStore_Delete(kv, key) == NATS_OK else {
                throw HarnessError("delete \(key) in \(bucket)")
            }
        }
    }

    @Test func anExpiringBucketKeepsItsEntriesAndItsSequence() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        let last = try Self.expiringBucket(cluster.clientURLs, bucket: "collector_lease_old", ttlSeconds: 1, key: "north", writes: 3)
        #expect(last == 3)

        let store = try NATSKeyValue(servers: cluster.clientURLs, bucket: "collector_lease_old", timeoutMillis: 2_000)
        #expect(store.removedExpiry == .seconds(1))
        // The key written before is there (and not yet expired: read right away).
        #expect(store.entry("north") == .entry(value: "old-2", released: false, revision: 3))
        #expect(store.update("north", "a", last: 3) == .written(4))
        // Well past the old expiry, the key is still there, at the same revision.
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(store.entry("north") == .entry(value: "a", released: false, revision: 4))
        // Conditional writes: a wrong revision is refused; a create over a key is refused.
        if case .refused = store.update("north", "b", last: 3) {} else { Issue.record("a write on a stale revision went through") }
        if case .refused = store.create("north", "b") {} else { Issue.record("a create over a held key went through") }
        // A key never written reads absent, and is created at the next sequence.
        #expect(store.entry("south") == .absent)
        #expect(store.create("south", "s") == .written(5))
        // A released key (an empty value) reads so, and is taken by a write on its revision.
        #expect(store.update("north", "", last: 4) == .written(6))
        #expect(store.entry("north") == .entry(value: "", released: true, revision: 6))
        #expect(store.update("north", "c", last: 6) == .written(7))
        // A second binding finds no expiry left to remove.
        let again = try NATSKeyValue(servers: cluster.clientURLs, bucket: "collector_lease_old", timeoutMillis: 2_000)
        #expect(again.removedExpiry == nil)
        #expect(again.entry("north") == .entry(value: "c", released: false, revision: 7))
        // A key an operator deleted is not released (its holder may still count itself one):
        // it is waited out like a held key, then taken by a write on the marker's revision.
        try Self.deleteKey(cluster.clientURLs, bucket: "collector_lease_old", key: "north")
        #expect(again.entry("north") == .entry(value: "", released: false, revision: 8))
        if case .refused = again.create("north", "d") {} else { Issue.record("a create over a delete marker went through") }
        #expect(again.update("north", "d", last: 8) == .written(9))
    }

    /// The remedy for a stream that keeps resetting: its leader steps down when asked, and
    /// another node leads it.
    @Test func theBucketsLeaderStepsDownWhenAsked() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        // Given one node of three, the bucket is made on three all the same.
        let store = try NATSKeyValue(servers: [cluster.clientURLs[1]], bucket: "collector_lease_north", timeoutMillis: 2_000)
        #expect(store.replicas() == 3)
        #expect(store.create("north", "a") == .written(1))
        let before = try #require(store.leader())
        #expect(store.stepDown())
        try await waitUntil("another leader", seconds: 20) { store.leader().map { $0 != before } ?? false }
        #expect(store.update("north", "a", last: 1) == .written(2))
        // A bucket deleted under the lease reads as gone (the lease binds it again), not as an
        // unanswered read forever.
        #expect(try Self.withJetStream(cluster.clientURLs) { js_DeleteKeyValue($0, "collector_lease_north") } == NATS_OK)
        #expect(store.entry("north") == .gone)
    }
}

import CNATS
import Foundation

/// One key-value bucket of a NATS cluster (JetStream), through libnats: just the conditional
/// writes a lease needs. Blocking calls; use from one thread.
final class NATSKeyValue: @unchecked Sendable {
    private var connection: OpaquePointer?   // natsConnection *
    private var jetStream: OpaquePointer?    // jsCtx *
    private var bucket: OpaquePointer?       // kvStore *
    private let bucketName: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The answer to a conditional write.
    enum Outcome: Equatable {
        /// Written, at this revision.
        case written(UInt64)
        /// The store refused: the key is not in the state the write expected (somebody else
        /// holds it, or it expired).
        case refused(String)
        /// No answer (timeout, no connection): the write may or may not have happened.
        case unknown(String)
    }

    /// Connects to `servers` (`nats://host:port`, any node of the cluster; libnats reconnects
    /// to another on its own) and binds `bucket`, creating it (entries expire `ttl` after they
    /// were written; one value per key; replicated to up to three nodes) when missing.
    init(servers: [String], bucket name: String, ttl: Duration, timeoutMillis: Int64) throws {
        bucketName = name
        var opts: OpaquePointer?
        try Self.check(natsOptions_Create(&opts), "options")
        defer { natsOptions_Destroy(opts) }
        var urls = servers.map { strdup($0) }
        defer { urls.forEach { free($0) } }
        let rc = urls.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) {
                natsOptions_SetServers(opts, $0, Int32(buf.count))
            }
        }
        try Self.check(rc, "servers")
        try Self.check(natsOptions_SetTimeout(opts, timeoutMillis), "timeout")
        try Self.check(natsOptions_SetMaxReconnect(opts, -1), "reconnects")
        try Self.check(natsOptions_SetReconnectWait(opts, 250), "reconnect wait")
        try Self.check(natsConnection_Connect(&connection, opts), "connect to \(servers.joined(separator: ","))")
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.Wait = timeoutMillis
        try Self.check(natsConnection_JetStream(&jetStream, connection, &jsOpts), "JetStream")
        let ttlNanos = Int64(ttl.components.seconds) * 1_000_000_000 + ttl.components.attoseconds / 1_000_000_000
        if js_KeyValue(&bucket, jetStream, name) != NATS_OK {
            var cfg = kvConfig()
            kvConfig_Init(&cfg)
            let created = name.withCString { bucketName -> natsStatus in
                cfg.Bucket = bucketName
                cfg.History = 1
                cfg.TTL = ttlNanos
                cfg.Replicas = Int32(min(3, servers.count))
                return js_CreateKeyValue(&bucket, jetStream, &cfg)
            }
            try Self.check(created, "create key-value bucket \(name)")
        }
        // Entries must expire exactly when the lease assumes: a bucket made by a collector
        // with another lease length would let a standby in while the holder still counts itself one.
        var status: OpaquePointer?
        try Self.check(kvStore_Status(&status, bucket), "key-value bucket \(name) status")
        defer { kvStatus_Destroy(status) }
        let kept = kvStatus_TTL(status)
        guard kept == ttlNanos else {
            throw Failure(description: "key-value bucket \(name) keeps entries \(Double(kept) / 1e9) s, not the lease's \(Double(ttlNanos) / 1e9) s: "
                          + "give every collector of the partition the same lease, or another bucket")
        }
    }

    deinit {
        if let bucket { kvStore_Destroy(bucket) }
        if let jetStream { jsCtx_Destroy(jetStream) }
        if let connection {
            natsConnection_Close(connection)
            natsConnection_Destroy(connection)
        }
    }

    /// Writes `value` under `key` only if the key holds nothing (never written, or expired:
    /// a lease's key is never deleted, so no delete marker stands in for "nothing").
    func create(_ key: String, _ value: String) -> Outcome {
        write(key, value) { $0.ExpectNoMessage = true }
    }

    /// Writes `value` under `key` only if its latest revision is `last`.
    func update(_ key: String, _ value: String, last: UInt64) -> Outcome {
        write(key, value) { $0.ExpectLastSubjectSeq = last }
    }

    /// A conditional publish to the key's subject, with JetStream's own error code: only
    /// "wrong last sequence" is a refusal; any other error leaves the outcome unknown.
    private func write(_ key: String, _ value: String, _ expect: (inout jsPubOptions) -> Void) -> Outcome {
        var opts = jsPubOptions()
        jsPubOptions_Init(&opts)
        expect(&opts)
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(rawValue: 0)
        let bytes = Array(value.utf8)
        let s = js_Publish(&ack, jetStream, "$KV.\(bucketName).\(key)", bytes, Int32(bytes.count), &opts, &code)
        defer { if let ack { jsPubAck_Destroy(ack) } }
        if s == NATS_OK, let ack { return .written(ack.pointee.Sequence) }
        let text = Self.lastError(s)
        return code == JSStreamWrongLastSequenceErr ? .refused(text) : .unknown(text)
    }

    /// The current value of `key` and its revision, nil when it holds nothing (or the read
    /// failed). `released`: the value is empty (zero bytes), as a lease's holder leaves it.
    func entry(_ key: String) -> (value: String, released: Bool, revision: UInt64)? {
        var entry: OpaquePointer?
        guard kvStore_Get(&entry, bucket, key) == NATS_OK, let entry else { return nil }
        defer { kvEntry_Destroy(entry) }
        let length = kvEntry_ValueLen(entry)
        let value = length > 0 ? kvEntry_ValueString(entry).map { String(cString: $0) } ?? "?" : ""
        return (value, length == 0, kvEntry_Revision(entry))
    }

    private static func lastError(_ s: natsStatus) -> String {
        var status = s
        if let text = nats_GetLastError(&status), text.pointee != 0 { return String(cString: text) }
        return String(cString: natsStatus_GetText(s))
    }

    private static func check(_ s: natsStatus, _ what: String) throws {
        if s != NATS_OK { throw Failure(description: "\(what): \(lastError(s))") }
    }
}

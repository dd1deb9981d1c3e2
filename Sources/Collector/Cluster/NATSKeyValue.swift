import CNATS
import Foundation

/// One key-value bucket of a NATS cluster (JetStream), through libnats: just the conditional
/// writes a lease needs. Blocking calls; use from one thread.
final class NATSKeyValue: @unchecked Sendable {
    private var connection: OpaquePointer?   // natsConnection *
    private var jetStream: OpaquePointer?    // jsCtx *
    private var bucket: OpaquePointer?       // kvStore *
    private let bucketName: String
    private let timeoutMillis: Int64

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

    /// Whether binding the bucket removed an expiry it had (`init`): log it.
    private(set) var removedExpiry: Duration?

    /// Connects to `servers` (`nats://host:port`, any node of the cluster; libnats reconnects
    /// to another on its own) and binds `bucket`, creating it (one value per key, kept until
    /// rewritten; replicated to up to three nodes of those given or announced) when missing.
    /// Every call gives up after `timeoutMillis`.
    ///
    /// A bucket whose entries expire (as earlier versions made lease buckets) loses its expiry
    /// here, by an update of its stream that keeps its sequence numbers: the fencing tokens
    /// taken from them stay larger than any taken before.
    init(servers: [String], bucket name: String, timeoutMillis: Int64) throws {
        bucketName = name
        self.timeoutMillis = timeoutMillis
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
        // The cluster's size as its nodes announce it (a collector given one URL of three
        // still makes a bucket on three nodes).
        let replicas = max(servers.count, knownServers())
        if js_KeyValue(&bucket, jetStream, name) != NATS_OK {
            var cfg = kvConfig()
            kvConfig_Init(&cfg)
            let created = name.withCString { bucketName -> natsStatus in
                cfg.Bucket = bucketName
                cfg.History = 1
                cfg.Replicas = Int32(min(3, replicas))
                return js_CreateKeyValue(&bucket, jetStream, &cfg)
            }
            try Self.check(created, "create key-value bucket \(name)")
        }
        var status: OpaquePointer?
        try Self.check(kvStore_Status(&status, bucket), "key-value bucket \(name) status")
        let kept = kvStatus_TTL(status)
        kvStatus_Destroy(status)
        if kept != 0 {
            try removeExpiry()
            removedExpiry = .nanoseconds(kept)
        }
    }

    /// How many servers the connection knows: those given and those the cluster announced.
    private func knownServers() -> Int {
        var list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: Int32 = 0
        guard natsConnection_GetServers(connection, &list, &count) == NATS_OK, let list else { return 0 }
        for i in 0..<Int(count) { free(list[i]) }
        free(list)
        return Int(count)
    }

    /// The bucket's stream's name.
    private var stream: String { "KV_" + bucketName }

    /// `body` applied to the bucket's stream's information, as the cluster answers it now.
    private func withStreamInfo<T>(_ body: (jsStreamInfo) throws -> T) throws -> T {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        try Self.check(js_GetStreamInfo(&info, jetStream, stream, nil, &code), "stream \(stream)")
        defer { jsStreamInfo_Destroy(info) }
        guard let info else { throw Failure(description: "stream \(stream): no information") }
        return try body(info.pointee)
    }

    /// Sets the bucket's stream to keep its entries until they are rewritten.
    private func removeExpiry() throws {
        try withStreamInfo { info in
            guard let config = info.Config else { throw Failure(description: "stream \(stream): no configuration") }
            config.pointee.MaxAge = 0
            var updated: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(rawValue: 0)
            try Self.check(js_UpdateStream(&updated, jetStream, config, nil, &code), "remove the expiry of stream \(stream)")
            jsStreamInfo_Destroy(updated)
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

    /// Writes `value` under `key` only if the key was never written (a key deleted by hand
    /// holds a delete marker: this is refused, and `update` on the marker's revision takes it).
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

    /// What a read of a key found.
    enum Read: Equatable {
        /// Nothing under the key.
        case absent
        /// Its latest value and revision; `released`: the value is empty (zero bytes), as a
        /// lease's holder leaves it.
        case entry(value: String, released: Bool, revision: UInt64)
        /// The bucket itself is not there (deleted).
        case gone
        /// No answer, or an error.
        case unknown(String)
    }

    /// The latest value of `key` and its revision, as the bucket stream's leader has it (not a
    /// replica's possibly older copy). A delete or purge marker (never written by a lease, but
    /// an operator may) reads as an entry with an empty value that is *not* released: its
    /// holder may still count itself one, so it is waited out like any held key.
    func entry(_ key: String) -> Read {
        var msg: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        let s = js_GetLastMsg(&msg, jetStream, stream, "$KV.\(bucketName).\(key)", nil, &code)
        if s == NATS_NOT_FOUND || code == JSNoMessageFoundErr { return .absent }
        if code == JSStreamNotFoundErr { return .gone }
        guard s == NATS_OK, let msg else { return .unknown(Self.lastError(s)) }
        defer { natsMsg_Destroy(msg) }
        var operation: UnsafePointer<CChar>?
        let marker = natsMsgHeader_Get(msg, "KV-Operation", &operation) == NATS_OK && operation != nil
        let length = Int(natsMsg_GetDataLength(msg))
        let value = length > 0 && !marker
            ? String(decoding: UnsafeRawBufferPointer(start: natsMsg_GetData(msg), count: length), as: UTF8.self) : ""
        return .entry(value: value, released: value.isEmpty && !marker, revision: natsMsg_GetSequence(msg))
    }

    /// The node that leads the bucket's stream (nil when the cluster does not say).
    func leader() -> String? {
        (try? withStreamInfo { $0.Cluster?.pointee.Leader.map { String(cString: $0) } }) ?? nil
    }

    /// How many nodes hold the bucket's stream (nil when the cluster does not say).
    func replicas() -> Int? {
        (try? withStreamInfo { $0.Config.map { Int($0.pointee.Replicas) } }) ?? nil
    }

    /// Asks the bucket stream's leader to step down, so that its replicas elect another (the
    /// JetStream API's stream leader step-down). True when the cluster said it did.
    func stepDown() -> Bool {
        var reply: OpaquePointer?
        let s = natsConnection_Request(&reply, connection, "$JS.API.STREAM.LEADER.STEPDOWN." + stream, nil, 0, timeoutMillis)
        guard s == NATS_OK, let reply else { return false }
        defer { natsMsg_Destroy(reply) }
        let length = Int(natsMsg_GetDataLength(reply))
        let text = String(decoding: UnsafeRawBufferPointer(start: natsMsg_GetData(reply), count: length), as: UTF8.self)
        return text.contains("\"success\":true")
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

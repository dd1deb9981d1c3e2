import CMosquitto
import Foundation

/// Owns one libmosquitto client (`struct mosquitto *`) in threaded mode, driven by the
/// caller's own loop (see `IngestLoop`): libmosquitto then queues every outgoing packet,
/// PUBACKs included, until `loopWrite()`. That is what lets us acknowledge only after commit.
///
/// Use from one thread only (the ingest thread), except `publish`, which libmosquitto
/// guards with its own mutexes. Destroy only after that thread has stopped.
final class MosquittoClient: @unchecked Sendable {
    private let handle: OpaquePointer
    private let events: Events

    /// Callbacks, run on the thread that calls `loopRead`.
    final class Events {
        var onConnect: (Int32) -> Void = { _ in }
        var onDisconnect: (Int32) -> Void = { _ in }
        var onMessage: (UnsafePointer<mosquitto_message>) -> Void = { _ in }
        /// A QoS 1 publish was acknowledged by the broker (QoS 0: was written).
        var onPublish: (Int32) -> Void = { _ in }
        /// A SUBACK: the SUBSCRIBE's message id and the code granted for each of its filters
        /// (the QoS, or 0x80 and up when refused).
        var onSubscribe: (Int32, [Int32]) -> Void = { _, _ in }
    }

    private static let libraryReady: Void = {
        mosquitto_lib_init()
        signal(SIGPIPE, SIG_IGN)
    }()

    struct Failure: Error, CustomStringConvertible {
        let code: Int32
        let what: String
        var description: String { "\(what): \(MosquittoClient.describe(code))" }
    }

    init(clientID: String, cleanSession: Bool, events: Events) throws {
        _ = Self.libraryReady
        self.events = events
        guard let h = mosquitto_new(clientID, cleanSession, nil) else {
            throw Failure(code: MOSQ_ERR_NOMEM.rawValue, what: "mosquitto_new")
        }
        handle = h
        mosquitto_user_data_set(h, Unmanaged.passUnretained(events).toOpaque())
        mosquitto_threaded_set(h, true)
        // PUBACKs and alert messages are small: without this, Nagle's algorithm holds each
        // behind the broker's delayed ACK (~40 ms on Linux), which was most of an alert's latency.
        _ = mosquitto_int_option(h, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_connect_callback_set(h, onConnectThunk)
        mosquitto_disconnect_callback_set(h, onDisconnectThunk)
        mosquitto_message_callback_set(h, onMessageThunk)
        mosquitto_publish_callback_set(h, onPublishThunk)
        mosquitto_subscribe_callback_set(h, onSubscribeThunk)
    }

    deinit { mosquitto_destroy(handle) }

    // MARK: Options (before connect)

    func useMQTT5(receiveMaximum: Int32) throws {
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5), "protocol version")
        try check(mosquitto_int_option(handle, MOSQ_OPT_RECEIVE_MAXIMUM, receiveMaximum), "receive maximum")
    }

    func useMQTT311() throws {
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311), "protocol version")
    }

    func setWill(topic: String, payload: String, qos: Int32, retain: Bool) throws {
        let bytes = Array(payload.utf8)
        try check(mosquitto_will_set(handle, topic, Int32(bytes.count), bytes, qos, retain), "will")
    }

    func setCredentials(username: String, password: String?) throws {
        try check(mosquitto_username_pw_set(handle, username, password), "username/password")
    }

    func setTLS(caFile: String?, certFile: String?, keyFile: String?, insecure: Bool) throws {
        let caPath: String? = caFile == nil ? "/etc/ssl/certs" : nil
        try check(mosquitto_tls_set(handle, caFile, caPath, certFile, keyFile, nil), "TLS")
        if insecure { try check(mosquitto_tls_insecure_set(handle, true), "TLS insecure") }
    }

    /// Protocol, credentials and TLS from the `mqtt` config (before connect).
    func configure(_ m: CollectorConfig.MQTTConfig) throws {
        switch m.protocolVersion {
        case .v5: try useMQTT5(receiveMaximum: m.receiveMaximum)
        case .v311: try useMQTT311()
        }
        if let user = m.username {
            let password = try m.passwordFile.map { try Self.readPassword($0) }
            try setCredentials(username: user, password: password)
        }
        if m.url.tls {
            try setTLS(caFile: m.caFile, certFile: m.certFile, keyFile: m.keyFile, insecure: m.tlsInsecure)
        }
    }

    static func readPassword(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StartupError("mqtt.password_file '\(path)' cannot be read") }
        if st.st_mode & S_IROTH != 0 {
            throw StartupError("mqtt.password_file '\(path)' is world-readable; chmod o-r it first")
        }
        guard let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) else {
            throw StartupError("mqtt.password_file '\(path)' cannot be read")
        }
        return s.trimmingCharacters(in: .newlines)
    }

    // MARK: Connection

    /// Opens the TCP (or TLS) connection and queues CONNECT. Blocks for the TCP connect.
    /// `sessionExpiry` is sent as an MQTT 5 property (nil for 3.1.1).
    func connect(host: String, port: Int32, keepalive: Int32, sessionExpiry: UInt32?) -> Int32 {
        var props: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&props) }
        if let sessionExpiry {
            _ = mosquitto_property_add_int32(&props, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), sessionExpiry)
        }
        return mosquitto_connect_bind_v5(handle, host, port, keepalive, nil, props)
    }

    /// The socket, or -1 when not connected.
    var socket: Int32 { mosquitto_socket(handle) }
    var wantsWrite: Bool { mosquitto_want_write(handle) }

    func loopRead() -> Int32 { mosquitto_loop_read(handle, 1) }
    func loopWrite() -> Int32 { mosquitto_loop_write(handle, 1) }
    func loopMisc() -> Int32 { mosquitto_loop_misc(handle) }
    /// One round of libmosquitto's own loop (select, read, write, keepalive), for simple clients.
    func loop(timeoutMillis: Int32) -> Int32 { mosquitto_loop(handle, timeoutMillis, 1) }

    /// Queues a SUBSCRIBE and tells its message id, which `onSubscribe` reports with the SUBACK.
    func subscribe(_ topic: String, qos: Int32, mid: inout Int32) -> Int32 {
        mosquitto_subscribe(handle, &mid, topic, qos)
    }

    func publish(_ topic: String, _ payload: [UInt8], qos: Int32, retain: Bool) -> Int32 {
        mosquitto_publish(handle, nil, topic, Int32(payload.count), payload, qos, retain)
    }

    /// Publishes and tells the message id `onPublish` will report for it.
    func publish(_ topic: String, _ payload: [UInt8], qos: Int32, retain: Bool = false, mid: inout Int32) -> Int32 {
        mosquitto_publish(handle, &mid, topic, Int32(payload.count), payload, qos, retain)
    }

    /// Connects again with the same options (simple clients; the ingest loop reconnects itself).
    func reconnect() -> Int32 { mosquitto_reconnect(handle) }

    /// Queues a clean DISCONNECT (the broker then does not publish the will).
    func disconnect() -> Int32 { mosquitto_disconnect(handle) }

    /// Cuts the connection at once without sending anything queued: unacknowledged
    /// messages stay with the broker, which redelivers them to our session.
    func abort() {
        let fd = socket
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    static func describe(_ rc: Int32) -> String {
        String(cString: mosquitto_strerror(rc))
    }

    static func describeConnack(_ rc: Int32) -> String {
        String(cString: mosquitto_reason_string(rc))
    }

    private func check(_ rc: Int32, _ what: String) throws {
        if rc != MOSQ_ERR_SUCCESS.rawValue { throw Failure(code: rc, what: what) }
    }
}

// C callbacks at file scope: they run on the loop thread and must not capture isolation.
private func events(_ ud: UnsafeMutableRawPointer?) -> MosquittoClient.Events? {
    ud.map { Unmanaged<MosquittoClient.Events>.fromOpaque($0).takeUnretainedValue() }
}

private let onConnectThunk: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32) -> Void = { _, ud, rc in
    events(ud)?.onConnect(rc)
}

private let onDisconnectThunk: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32) -> Void = { _, ud, rc in
    events(ud)?.onDisconnect(rc)
}

private let onMessageThunk: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafePointer<mosquitto_message>?) -> Void = { _, ud, msg in
    if let msg { events(ud)?.onMessage(msg) }
}

private let onPublishThunk: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32) -> Void = { _, ud, mid in
    events(ud)?.onPublish(mid)
}

private let onSubscribeThunk: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, UnsafePointer<Int32>?) -> Void = {
    _, ud, mid, count, granted in
    let codes = granted.map { Array(UnsafeBufferPointer(start: $0, count: Int(max(count, 0)))) } ?? []
    events(ud)?.onSubscribe(mid, codes)
}

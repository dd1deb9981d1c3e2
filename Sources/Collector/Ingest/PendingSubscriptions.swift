/// The subscriptions of one MQTT connection until the broker has answered each (a plain
/// struct; `IngestLoop` sends the SUBSCRIBEs and passes the SUBACKs in).
///
/// A CONNACK alone does not mean messages will come: a broker may refuse a subscription in
/// its SUBACK (return code 0x80 in MQTT 3.1.1, a reason code of 0x80 or more in MQTT 5).
/// NATS does so for a QoS 1 subscription whenever JetStream cannot make the session's consumer
/// (no stream or meta leader yet, after a node's loss); mosquitto, for one its plugin denies.
/// A refused subscription is handled as a lost link (the loop connects again, to the next
/// node of a cluster), since a connection that delivers nothing is no better than none.
struct PendingSubscriptions {
    /// One SUBSCRIBE sent: its topic filter and the QoS asked for.
    struct Sent: Equatable {
        var topic: String
        var qos: Int32
    }

    /// What a SUBACK meant.
    enum Outcome: Equatable {
        /// Granted; others are still unanswered.
        case waiting
        /// Granted, and it was the last unanswered one.
        case allGranted
        /// Granted below the QoS asked for (messages may then come unacknowledged); counts as
        /// granted, and `allGranted` follows when it was the last.
        case downgraded(Sent, granted: Int32, last: Bool)
        /// Refused: `code` is the broker's return (or reason) code.
        case refused(Sent, code: Int32)
        /// A SUBACK for no SUBSCRIBE of this connection (an earlier connection's, say): ignored.
        case unknown
    }

    private var unanswered: [Int32: Sent] = [:]

    /// Nothing is being waited for.
    var isEmpty: Bool { unanswered.isEmpty }

    /// A new connection: the previous one's SUBSCRIBEs are forgotten.
    mutating func reset() { unanswered = [:] }

    /// A SUBSCRIBE with message id `mid` was queued.
    mutating func sent(mid: Int32, topic: String, qos: Int32) { unanswered[mid] = Sent(topic: topic, qos: qos) }

    /// The SUBACK for `mid`, with the code granted for each of its filters (one per SUBSCRIBE here).
    mutating func answered(mid: Int32, granted: [Int32]) -> Outcome {
        guard let sent = unanswered.removeValue(forKey: mid) else { return .unknown }
        let code = granted.first ?? 0x80   // (a SUBACK without codes grants nothing)
        if code >= 0x80 || code < 0 {
            unanswered = [:]   // the link is given up: the others no longer matter
            return .refused(sent, code: code)
        }
        if code < sent.qos { return .downgraded(sent, granted: code, last: unanswered.isEmpty) }
        return unanswered.isEmpty ? .allGranted : .waiting
    }
}

/// What a decoder needs besides the payload: the topic, arrival time, and the accepted
/// time window (`now - acceptAge ... now + maxFuture`).
public struct DecodeContext: Sendable {
    public var topic: String
    public var now: EpochMillis
    public var acceptAge: EpochMillis
    public var maxFuture: EpochMillis
    /// Most readings one message may carry.
    public var maxReadings: Int
    /// Unit of line-protocol timestamps.
    public var precision: TimePrecision = .ns

    public init(topic: String, now: EpochMillis, acceptAge: EpochMillis = 30 * 86_400_000,
                maxFuture: EpochMillis = 300_000, maxReadings: Int = 100_000) {
        self.topic = topic
        self.now = now
        self.acceptAge = acceptAge
        self.maxFuture = maxFuture
        self.maxReadings = maxReadings
    }

    /// The sensor id from a topic pattern's `{sensor}`, if the subscription has one.
    public var patternSensor: String?

    /// The sensor id when the payload names none: the topic pattern's `{sensor}`, else the
    /// topic's last segment.
    public var topicSensor: Substring {
        if let patternSensor { return Substring(patternSensor) }
        return topic.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(topic)
    }

    /// Checks a reading time against the accepted window.
    func check(_ t: EpochMillis) throws(DecodeError) {
        if t < now - acceptAge {
            throw .timeOutOfRange("time \(t / 1000) is older than the accepted age (\(acceptAge / 1000) s before now)")
        }
        if t > now + maxFuture {
            throw .timeOutOfRange("time \(t / 1000) is more than \(maxFuture / 1000) s in the future")
        }
    }
}

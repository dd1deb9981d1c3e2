/// Which LoRaWAN frames have been stored, per device: a frame counter seen again in the same
/// session, received within `repeatWindow` of the stored one, is the same uplink again (a
/// network server publishing it twice, a gateway's echo), not a new reading at a new receive
/// time. A new session (ChirpStack: another `devAddr`; The Things Stack: another
/// `session_key_id`) starts afresh, as the counters do when a device rejoins; a counter seen
/// before but received later than the window is a device whose counters were reset without a
/// rejoin, and a frame of its own. (An MQTT redelivery of the same message carries the same
/// receive time and is deduplicated by storage anyway.) Kept in memory: after a restart the
/// first repeat of a frame stored before is stored again, at its new receive time.
public struct LoRaWANSessions: Sendable {
    /// How close a repeat's receive time is to the stored frame's.
    public static let repeatWindow: EpochMillis = 10 * 60_000
    /// How many of the newest counters per device are remembered.
    public static let window: Int64 = 256

    private struct Device {
        var session: String
        var newest: Int64
        /// Counter -> when it was received.
        var seen: [Int64: EpochMillis]
    }

    private var devices: [String: Device] = [:]

    public init() {}

    /// Whether `frame` was stored already.
    public func isRepeat(_ frame: LoRaWANDecoder.Frame) -> Bool {
        guard let d = devices[frame.device], d.session == frame.session, let at = d.seen[frame.counter] else { return false }
        return abs(frame.received - at) <= Self.repeatWindow
    }

    /// Records a stored frame.
    public mutating func record(_ frame: LoRaWANDecoder.Frame) {
        var d = devices[frame.device] ?? Device(session: frame.session, newest: frame.counter, seen: [:])
        if d.session != frame.session { d = Device(session: frame.session, newest: frame.counter, seen: [:]) }
        d.seen[frame.counter] = frame.received
        d.newest = frame.counter > d.newest ? frame.counter : d.newest
        if d.seen.count > Int(Self.window) * 2 {
            let newest = d.newest
            d.seen = d.seen.filter { $0.key > newest - Self.window }
            if d.seen.count > Int(Self.window) * 2 { d.seen = [frame.counter: frame.received] }   // reset counters, kept low
        }
        devices[frame.device] = d
    }
}

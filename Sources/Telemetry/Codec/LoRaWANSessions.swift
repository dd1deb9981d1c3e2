/// Which LoRaWAN frames have been stored, per device: a frame counter seen again in the same
/// session is the same uplink again (a network server's redelivery, a gateway's echo), not a
/// new reading at a new receive time. A new session (ChirpStack: another `devAddr`; The
/// Things Stack: another `session_key_id`) starts afresh, as the counters do when a device
/// rejoins; so does a counter far behind the newest (`window`), a device whose counters were
/// reset without a rejoin. Kept in memory: after a restart the first repeat of a frame stored
/// before is stored again, at its new receive time.
public struct LoRaWANSessions: Sendable {
    /// How many of the newest counters per device are remembered.
    public static let window: Int64 = 256

    private struct Device {
        var session: String
        var newest: Int64
        var seen: Set<Int64>
    }

    private var devices: [String: Device] = [:]

    public init() {}

    /// Whether `frame` was stored already.
    public func isRepeat(_ frame: LoRaWANDecoder.Frame) -> Bool {
        guard let d = devices[frame.device], d.session == frame.session else { return false }
        return d.seen.contains(frame.counter)
    }

    /// Records a stored frame.
    public mutating func record(_ frame: LoRaWANDecoder.Frame) {
        var d = devices[frame.device] ?? Device(session: frame.session, newest: frame.counter, seen: [])
        if d.session != frame.session || frame.counter < d.newest - Self.window {
            d = Device(session: frame.session, newest: frame.counter, seen: [])
        }
        d.seen.insert(frame.counter)
        if frame.counter > d.newest {
            d.newest = frame.counter
            if d.seen.count > Int(Self.window) * 2 { d.seen = d.seen.filter { $0 > d.newest - Self.window } }
        }
        devices[frame.device] = d
    }
}

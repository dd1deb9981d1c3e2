/// Milliseconds since the Unix epoch (UTC). The collector's one time unit inside;
/// HTTP answers convert to epoch seconds.
public typealias EpochMillis = Int64

/// Where the collector gets "now" from. Injected so that tests control time.
public protocol WallClock: Sendable {
    /// The current time in milliseconds since the epoch.
    func now() -> EpochMillis
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> EpochMillis {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return EpochMillis(ts.tv_sec) * 1000 + EpochMillis(ts.tv_nsec / 1_000_000)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EpochMillis {
    /// Floor division that rounds toward negative infinity (times before 1970 stay correct).
    @inlinable
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

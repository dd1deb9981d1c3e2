import Foundation
import Telemetry

/// Traffic congestion (docs/domain.md, US FHWA practice): `congestion` = 1 − speed / free-flow
/// speed, at least 0; the travel-time index is free-flow speed / speed.
public enum Congestion {
    public static func index(speedKmh: Double, freeFlowKmh: Double) -> Double {
        guard freeFlowKmh > 0 else { return 0 }
        return max(0, 1 - max(speedKmh, 0) / freeFlowKmh)
    }

    /// nil when traffic stands still (the index is unbounded).
    public static func travelTimeIndex(speedKmh: Double, freeFlowKmh: Double) -> Double? {
        speedKmh > 0 ? freeFlowKmh / speedKmh : nil
    }
}

/// The free-flow speed of a road section without `free_flow_kmh` in the catalogue: the 85th
/// percentile of its off-peak speeds (local 22:00–05:00), over the last `capacity` off-peak
/// readings; nil until `minimum` of them are known.
public struct FreeFlowEstimator: Sendable {
    public let capacity: Int
    public let minimum: Int
    private var speeds: [Double] = []
    private var next = 0
    private var offset: ZoneOffset

    public init(timeZone: TimeZone, capacity: Int = 512, minimum: Int = 30) {
        self.capacity = capacity
        self.minimum = minimum
        offset = ZoneOffset(timeZone)
    }

    public mutating func isOffPeak(_ t: EpochMillis) -> Bool {
        let h = offset.hour(t)
        return h >= 22 || h < 5
    }

    public mutating func add(time: EpochMillis, speedKmh: Double) {
        guard isOffPeak(time), speedKmh.isFinite, speedKmh > 0 else { return }
        if speeds.count < capacity {
            speeds.append(speedKmh)
        } else {
            speeds[next] = speedKmh
            next = (next + 1) % capacity
        }
    }

    /// The 85th percentile (nearest rank).
    public var freeFlowKmh: Double? {
        guard speeds.count >= minimum else { return nil }
        let sorted = speeds.sorted()
        let rank = Int((0.85 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}

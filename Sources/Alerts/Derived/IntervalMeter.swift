import Telemetry

/// A meter that reports one reading per `intervalMillis` (a transformer's or a customer's
/// electricity meter, a water DMA's inflow or customer meter): what "all its readings for a
/// period" means when a tracker waits for a complete hour or day.
public struct IntervalMeter: Sendable, Equatable {
    public var id: String
    public var intervalMillis: Int64

    public init(id: String, intervalMillis: Int64) {
        self.id = id
        self.intervalMillis = intervalMillis
    }

    /// Readings expected in `span` milliseconds (at least one).
    func expected(in span: Int64) -> Int { max(1, Int(span / max(intervalMillis, 1))) }
}

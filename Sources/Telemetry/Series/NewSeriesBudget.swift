/// How many new series the network may create: a token bucket refilled at `perMinute` a
/// minute, holding at most a minute's worth (`limits.new_series_per_minute`). It keeps one
/// publisher from filling `limits.max_series` (and its memory) in a few messages, while a
/// province's catalogue coming online still gets its series at once. Time is passed in.
public struct NewSeriesBudget: Sendable {
    public let perMinute: Int
    private var tokens: Double
    private var updated: EpochMillis?

    public init(perMinute: Int) {
        self.perMinute = perMinute
        tokens = Double(perMinute)
    }

    /// Whether `n` new series fit now (refilling first). A full bucket takes any one message,
    /// however many new series it brings: it then goes into debt, repaid at the rate, so a
    /// message larger than a minute's worth is slowed, not refused forever.
    public mutating func allows(_ n: Int, now: EpochMillis) -> Bool {
        refill(now)
        return Double(n) <= tokens || tokens >= Double(perMinute)
    }

    /// Takes `n` tokens (after `allows`; the balance may go below zero).
    public mutating func spend(_ n: Int, now: EpochMillis) {
        refill(now)
        tokens -= Double(n)
    }

    private mutating func refill(_ now: EpochMillis) {
        if let updated, now > updated {
            tokens = min(Double(perMinute), tokens + Double(now - updated) * Double(perMinute) / 60_000)
        }
        if updated == nil || now > updated! { updated = now }
    }
}

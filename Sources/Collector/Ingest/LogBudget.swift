/// At most a few log lines per second from floods of bad input or reconnects.
struct LogBudget {
    private var windowStart = ContinuousClock.now
    private var used = 0

    mutating func allow(perWindow limit: Int = 20) -> Bool {
        let now = ContinuousClock.now
        if now - windowStart > .seconds(10) { windowStart = now; used = 0 }
        used += 1
        return used <= limit
    }
}

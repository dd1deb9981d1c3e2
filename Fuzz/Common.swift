// Shared by every fuzz target (compiled into each).

/// What every decoder promises for what it accepts.
func checkReadings(_ rs: [Reading]) {
    for r in rs {
        precondition(r.value.isFinite, "non-finite value accepted: \(r)")
        precondition((try? SeriesName(sensor: r.series.sensor, metric: r.series.metric)) != nil, "invalid name accepted: \(r.series)")
    }
}

let fuzzContext = DecodeContext(topic: "telemetry/gw/ft-mt-0001", now: 1_795_000_000_000)

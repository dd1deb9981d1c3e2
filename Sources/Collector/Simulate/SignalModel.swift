import Foundation
import Telemetry

/// The simulator's readings: every value is a pure function of (seed, sensor, metric, time,
/// scenario), so a run is reproducible with `--seed`, and a reading published twice (a
/// gateway's retry) carries the same value both times.
///
/// Signals follow local time (UTC+7): diurnal temperature and humidity, afternoon rain on a
/// unit's rainy days, rivers that answer the rain, rush hours on the roads and in the air,
/// evening peaks on the meters. The numbers are illustrative, not a climate model.
struct SignalModel: Sendable {
    let seed: UInt64
    let scenario: Scenario
    /// Customer meters per transformer (for the transformer's own meter), and per water DMA
    /// (for its inflow meter).
    let customers: [String: [SensorEntry]]
    static let utcOffsetHours = 7.0

    /// A value for one reading, or nil when the metric is not simulated.
    func value(_ s: SensorEntry, _ metric: String, at t: EpochMillis) -> Double? {
        let h = localHour(t)
        let day = localDay(t)
        let sun = sin(2 * .pi * (h - 9) / 24)          // peaks at 15:00, lowest at 03:00
        let n = noise(s.id, metric, t)
        let effect = scenario.effect(on: s, at: t)
        switch metric {
        case "temp_c":
            if effect.hotDry { return round(37 + 2.5 * sun + 0.5 * n, 1) }
            return round(21 + offset(s.id, 3) + 6 * sun + 0.8 * n, 1)
        case "rh_pct":
            if effect.hotDry { return round(min(max(24 - 6 * sun + 2 * n, 10), 40), 1) }
            return round(min(max(78 - 20 * sun + 4 * n, 20), 100), 1)
        case "wind_ms":
            return round(max(0, 2 + 1.5 * sun + n), 1)
        case "rain_mm":
            return round(rain(s, h: h, day: day, t: t, effect: effect), 1)
        case "level_m":
            let base = (s.alarmLevelsM?.first ?? 3) - 1.2
            if let storm = effect.stormHours { return round(base + min(storm * 0.6, 3.5) + 0.01 * n, 3) }
            let rainy = isRainyDay(s.unit, day) && h >= 14
            return round(base + (rainy ? 0.35 * min(h - 14, 6) / 6 : 0) + 0.01 * n, 3)
        case "pm25_ugm3":
            return round(max(2, 18 + 14 * rush(h) + 4 * n), 1)
        case "pm10_ugm3":
            return round(max(4, (18 + 14 * rush(h)) * 1.7 + 6 * n), 1)
        case "kwh":
            guard s.role == .feeder else { return customerKWh(s, h: h, t: t) }
            let delivered = (customers[s.zone ?? ""] ?? []).reduce(0.0) { $0 + customerKWh($1, h: h, t: t) }
            return round(delivered / (1 - effect.lossShare), 3)
        case "volume_m3":
            // The volume of the reading's interval. A DMA's inflow is what its customers use,
            // plus a background leak of 12 % of their average use (10.7 % of the inflow, under
            // the 15 % target), plus what a scenario adds.
            guard s.role == .inflow else { return customerWater(s, h: h, t: t) }
            let hours = Double(s.intervalMillis) / 3_600_000
            let used = (customers[s.zone ?? ""] ?? []).reduce(0.0) { $0 + customerWater($1, h: h, t: t) }
            let leak = (customers[s.zone ?? ""] ?? []).reduce(0.0) { $0 + 0.12 * waterScale($1) * Self.waterPerHour($1) }
                + effect.leakM3h
            return round(used + leak * hours, 3)
        case "pressure_bar":
            let demand = 0.5 * (bump(h, 6, 8) + evening(h))
            return round(max(0.2, 3.2 - 0.6 * demand - effect.pressureDropBar + 0.05 * n), 2)
        case "voltage_v":
            return round(226 - 4 * evening(h) + 2 * n, 1)
        case "flow_veh":
            return round(max(0, 6 + 28 * rush(h) + 3 * n))
        case "speed_kmh":
            let ff = s.freeFlowKmh ?? 40
            if effect.congested { return round(ff * 0.3 + n, 1) }
            return round(max(3, ff * (1 - 0.3 * rush(h)) + 2 * n), 1)
        case "occupancy":
            return round(min(1, max(0, 0.08 + (effect.congested ? 0.6 : 0.3 * rush(h)) + 0.03 * n)), 3)
        default:
            return nil
        }
    }

    private func customerKWh(_ s: SensorEntry, h: Double, t: EpochMillis) -> Double {
        let scale = 1.1 + offset(s.id, 0.5)            // 0.6 ... 1.6
        return round(scale * (0.08 + 0.25 * evening(h) + 0.08 * bump(h, 6, 8)) + 0.01 * abs(noise(s.id, "kwh", t)), 3)
    }

    /// A customer meter's average use, m3/h: a block of about a hundred households (0.5 m3 a
    /// day each); the scale varies by meter.
    static func waterPerHour(_ s: SensorEntry) -> Double { 2.0 }

    /// A customer's use over its interval: morning and evening peaks, little at night. The
    /// shape's day averages 1: its peaks (each a plateau with half-hour ramps, its length
    /// plus 0.5 h) add 0.4958 to the 0.25 of the night, and the sum is divided by 0.7458.
    private func customerWater(_ s: SensorEntry, h: Double, t: EpochMillis) -> Double {
        let hours = Double(s.intervalMillis) / 3_600_000
        let shape = (0.25 + 1.6 * bump(h, 5.5, 8) + 1.3 * bump(h, 17, 21) + 0.5 * bump(h, 11, 13)) / 0.7458
        return round(Self.waterPerHour(s) * hours * waterScale(s) * shape * (1 + 0.1 * noise(s.id, "water", t)), 3)
    }

    /// A customer meter's size against the average (0.6 ... 1.4).
    private func waterScale(_ s: SensorEntry) -> Double { 1 + offset(s.id, 0.4) }

    private func rain(_ s: SensorEntry, h: Double, day: Int64, t: EpochMillis, effect: Scenario.Effect) -> Double {
        if effect.hotDry { return 0 }
        if let mm = effect.rainPerReadingMM { return mm * (0.8 + 0.4 * unit(s.id, "storm", t)) }
        guard isRainyDay(s.unit, day), h >= 14, h < 20 else { return 0 }
        let perHour = 2 + 8 * unit(s.unit, "rate", day)   // 2 ... 10 mm/h on a rainy afternoon
        return perHour * Double(s.intervalMillis) / 3_600_000 * (0.5 + unit(s.id, "rain", t))
    }

    /// About one day in four rains in a unit (the same for all its stations).
    func isRainyDay(_ place: String, _ day: Int64) -> Bool { unit(place, "rainy", day) < 0.25 }

    // MARK: Time and noise

    func localHour(_ t: EpochMillis) -> Double {
        let h = (Double(t) / 3_600_000 + Self.utcOffsetHours).truncatingRemainder(dividingBy: 24)
        return h < 0 ? h + 24 : h
    }

    func localDay(_ t: EpochMillis) -> Int64 { Int64(((Double(t) / 3_600_000 + Self.utcOffsetHours) / 24).rounded(.down)) }

    private func rush(_ h: Double) -> Double { max(bump(h, 7, 9), bump(h, 17, 19)) }
    private func evening(_ h: Double) -> Double { bump(h, 18, 22) }
    /// 1 inside [from, to), easing in and out over half an hour.
    private func bump(_ h: Double, _ from: Double, _ to: Double) -> Double {
        min(1, max(0, min(h - from + 0.5, to - h + 0.5) * 2))
    }

    /// A per-sensor constant in -width ... width.
    private func offset(_ id: String, _ width: Double) -> Double { (unit(id, "offset", 0) * 2 - 1) * width }

    /// Uniform in -1 ... 1.
    private func noise(_ id: String, _ metric: String, _ t: EpochMillis) -> Double { unit(id, metric, t) * 2 - 1 }

    /// Uniform in 0 ... 1 from a stable hash (FNV-1a, then SplitMix64); never Swift's per-process
    /// seeded `Hasher`, so the same seed gives the same readings in every run.
    func unit(_ id: String, _ salt: String, _ k: Int64) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        for b in salt.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h ^= UInt64(bitPattern: k)
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return Double(h >> 11) / Double(1 << 53)
    }

    private func round(_ v: Double, _ places: Int = 0) -> Double {
        let f = [1.0, 10, 100, 1000][places]
        return (v * f).rounded() / f
    }
}

import Telemetry

/// The recent values of the members of zones, units or junctions (one metric: stations'
/// `fire_danger_p`, `flood_risk_level` or `congestion`), from which a scope's maximum is taken
/// whatever order they arrived in: the value of a scope at `t` is the largest of its members'
/// values in force at `t`, a member's value in force being its latest at or before `t`, if it
/// is not older than `window` (a silent station drops out). A plain struct; `DerivedSeries`
/// records every value its stations derive, and corrections.
struct ScopeMaxima: Sendable {
    /// How long a member's value counts for.
    let window: EpochMillis
    /// How far back values are kept, before the newest of each member (older ones are read
    /// from storage when a late value needs them).
    let keep: EpochMillis
    /// Each member's values in time order (distinct times).
    private(set) var values: [String: [Sample]] = [:]
    /// Per member loaded with `load(_:_:from:)`, the time from which `values` holds all of
    /// its stored values (what the province's holder need not read again).
    private var completeFrom: [String: EpochMillis] = [:]

    /// `keep`: beyond the window, an hour (later values read storage).
    init(window: EpochMillis, keep: EpochMillis? = nil) {
        self.window = window
        self.keep = max(keep ?? window + 3_600_000, window)
    }

    /// Whether `member`'s values are loaded (`load`).
    func isLoaded(_ member: String) -> Bool { values[member] != nil }

    /// Loads a member's stored values (in time order) the first time it is needed; `from`:
    /// they are all its stored values from then on (`completeFrom`).
    mutating func load(_ member: String, _ stored: [Sample], from: EpochMillis? = nil) {
        guard values[member] == nil else { return }
        values[member] = stored
        if let from { completeFrom[member] = from }
    }

    /// The time from which all of a loaded member's stored values are held (nil: not known).
    func complete(_ member: String) -> EpochMillis? { completeFrom[member] }

    /// A member's value (a later one at the same time replaces it); returns how many values
    /// the member has now.
    @discardableResult
    mutating func record(_ member: String, _ s: Sample) -> Int {
        Self.record(s, in: &values[member, default: []], keep: keep)   // in place: one lookup, no copy
    }

    /// `record` for a member already loaded (`load`); nil, and nothing recorded, for one not.
    mutating func recordIfLoaded(_ member: String, _ s: Sample) -> Int? {
        Self.recordIfPresent(s, in: &values[member], keep: keep)   // in place; an absent member stays absent
    }

    private static func recordIfPresent(_ s: Sample, in a: inout [Sample]?, keep: EpochMillis) -> Int? {
        guard a != nil else { return nil }
        return record(s, in: &a!, keep: keep)
    }

    private static func record(_ s: Sample, in a: inout [Sample], keep: EpochMillis) -> Int {
        if let last = a.last, s.time <= last.time {
            let i = lowerBound(a, s.time)
            if i < a.count && a[i].time == s.time { a[i] = s } else { a.insert(s, at: i) }
        } else {
            a.append(s)
        }
        // Keep `keep` before the newest, and the value in force at its start.
        if let newest = a.last?.time, let first = a.first?.time, first < newest - keep {
            let cut = lowerBound(a, newest - keep)
            if cut > 1 { a.removeFirst(cut - 1) }
        }
        return a.count
    }

    /// Drops each member's values older than `keep` before its newest (the value in force at
    /// that time stays).
    mutating func trim() {
        for (member, var a) in values {
            guard let newest = a.last?.time else { continue }
            let cut = Self.lowerBound(a, newest - keep)
            if cut > 1 {
                a.removeFirst(cut - 1)
                values[member] = a
                if let known = completeFrom[member] { completeFrom[member] = max(known, a[0].time) }
            }
        }
    }

    /// A member's values from `from` on become `samples` (a correction).
    mutating func replace(_ member: String, from: EpochMillis, with samples: [Sample]) {
        var a = values.removeValue(forKey: member) ?? []
        a.removeSubrange(Self.lowerBound(a, from)...)
        a += samples
        values[member] = a
        // (All from `from` on now, and what was complete before stays so.)
        if let known = completeFrom[member] { completeFrom[member] = min(known, from) }
    }

    /// The earliest time whose value in force is known for `member` from memory (nil: none
    /// held).
    func heldFrom(_ member: String) -> EpochMillis? { values[member]?.first?.time }

    /// The largest value in force at `t` among `members`, from `values` or, for a member
    /// given in `older`, from those first (a late value reaching back past what is kept).
    func maximum(of members: [String], at t: EpochMillis, older: [String: [Sample]] = [:]) -> Double? {
        var best: Double?
        for m in members {
            guard let v = inForce(m, at: t, older: older[m]) else { continue }
            if v > (best ?? -.infinity) { best = v }
        }
        return best
    }

    /// `maximum(of:at:)` at each of `times`, each member's values looked up once.
    func maxima(of members: [String], at times: [EpochMillis]) -> [Double?] {
        let held = members.map { values[$0] ?? [] }
        return times.map { t in
            var best: Double?
            for a in held {
                let i = Self.lowerBound(a, t + 1)
                guard i > 0, a[i - 1].time >= t - window else { continue }
                let v = a[i - 1].value
                if v > (best ?? -.infinity) { best = v }
            }
            return best
        }
    }

    private func inForce(_ member: String, at t: EpochMillis, older: [Sample]?) -> Double? {
        let a = values[member] ?? []
        let i = Self.lowerBound(a, t + 1)
        var s: Sample? = i > 0 ? a[i - 1] : nil
        if s == nil || (a.first.map { $0.time > t - window } ?? true), let older {
            let j = Self.lowerBound(older, t + 1)
            if j > 0, s == nil || older[j - 1].time > s!.time { s = older[j - 1] }
        }
        guard let s, s.time >= t - window else { return nil }
        return s.value
    }

    /// The distinct times of `members`' values from `from` on, in order.
    func times(of members: [String], from: EpochMillis) -> [EpochMillis] {
        var out = Set<EpochMillis>()
        for m in members { for s in (values[m] ?? [])[Self.lowerBound(values[m] ?? [], from)...] { out.insert(s.time) } }
        return out.sorted()
    }

    static func lowerBound(_ a: [Sample], _ t: EpochMillis) -> Int { a.firstIndex(notBefore: t) { $0.time } }
}

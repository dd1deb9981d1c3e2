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
    /// Each member's slot (given at its first use; never taken back): the hot path
    /// (`DerivedSeries.memberValue`) keeps a station's slot and finds its values by index.
    private var slots: [String: Int] = [:]
    /// Per slot, the member.
    private(set) var members: [String] = []
    /// Per slot: the member's values in time order (distinct times); nil while not loaded.
    private var held: [[Sample]?] = []
    /// Per slot loaded with `load(_:_:from:)`, the time from which `held` holds all of its
    /// stored values (what the province's holder need not read again).
    private var completeFrom: [EpochMillis?] = []

    /// `keep`: beyond the window, an hour (later values read storage).
    init(window: EpochMillis, keep: EpochMillis? = nil) {
        self.window = window
        self.keep = max(keep ?? window + 3_600_000, window)
    }

    /// The slot of `member`, given the first time.
    mutating func slot(_ member: String) -> Int {
        if let i = slots[member] { return i }
        slots[member] = held.count
        members.append(member)
        held.append(nil)
        completeFrom.append(nil)
        return held.count - 1
    }

    /// A member's values (nil: not loaded).
    func samples(_ member: String) -> [Sample]? { slots[member].flatMap { held[$0] } }

    /// Whether `member`'s values are loaded (`load`).
    func isLoaded(_ member: String) -> Bool { samples(member) != nil }

    /// Whether the member in `slot` has a value held.
    func holds(slot i: Int) -> Bool { held[i]?.isEmpty == false }

    /// Loads a member's stored values (in time order) the first time it is needed; `from`:
    /// they are all its stored values from then on (`completeFrom`).
    mutating func load(_ member: String, _ stored: [Sample], from: EpochMillis? = nil) {
        let i = slot(member)
        guard held[i] == nil else { return }
        held[i] = stored
        if let from { completeFrom[i] = from }
    }

    /// The time from which all of a loaded member's stored values are held (nil: not known).
    func complete(_ member: String) -> EpochMillis? { slots[member].flatMap { completeFrom[$0] } }

    /// A member's value (a later one at the same time replaces it); returns how many values
    /// the member has now.
    @discardableResult
    mutating func record(_ member: String, _ s: Sample) -> Int {
        let i = slot(member)
        if held[i] == nil { held[i] = [] }
        return Self.record(s, in: &held[i]!, keep: keep)   // in place: no copy
    }

    /// `record` for a member already loaded (`load`); nil, and nothing recorded, for one not.
    mutating func recordIfLoaded(_ member: String, _ s: Sample) -> Int? {
        recordIfLoaded(slot: slot(member), s)
    }

    /// `recordIfLoaded` by the member's slot.
    mutating func recordIfLoaded(slot i: Int, _ s: Sample) -> Int? {
        guard held[i] != nil else { return nil }
        return Self.record(s, in: &held[i]!, keep: keep)
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
        for i in held.indices {
            guard var a = held[i], let newest = a.last?.time else { continue }
            let cut = Self.lowerBound(a, newest - keep)
            if cut > 1 {
                held[i] = nil
                a.removeFirst(cut - 1)
                if let known = completeFrom[i] { completeFrom[i] = max(known, a[0].time) }
                held[i] = a
            }
        }
    }

    /// A member's values from `from` on become `samples` (a correction).
    mutating func replace(_ member: String, from: EpochMillis, with samples: [Sample]) {
        let i = slot(member)
        var a = held[i] ?? []
        held[i] = nil
        a.removeSubrange(Self.lowerBound(a, from)...)
        a += samples
        held[i] = a
        // (All from `from` on now, and what was complete before stays so.)
        if let known = completeFrom[i] { completeFrom[i] = min(known, from) }
    }

    /// The earliest time whose value in force is known for `member` from memory (nil: none
    /// held).
    func heldFrom(_ member: String) -> EpochMillis? { samples(member)?.first?.time }

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
        maxima(ofSlots: members.compactMap { slots[$0] }, at: times)
    }

    /// `maxima(of:at:)` by the members' slots.
    func maxima(ofSlots members: [Int], at times: [EpochMillis]) -> [Double?] {
        times.map { t in
            var best: Double?
            for i in members {
                guard let a = held[i] else { continue }
                let j = Self.lowerBound(a, t + 1)
                guard j > 0, a[j - 1].time >= t - window else { continue }
                let v = a[j - 1].value
                if v > (best ?? -.infinity) { best = v }
            }
            return best
        }
    }

    private func inForce(_ member: String, at t: EpochMillis, older: [Sample]?) -> Double? {
        let a = samples(member) ?? []
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
        for m in members {
            let a = samples(m) ?? []
            for s in a[Self.lowerBound(a, from)...] { out.insert(s.time) }
        }
        return out.sorted()
    }

    static func lowerBound(_ a: [Sample], _ t: EpochMillis) -> Int { a.firstIndex(notBefore: t) { $0.time } }
}

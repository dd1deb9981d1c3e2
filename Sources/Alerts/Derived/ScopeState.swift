import Telemetry

/// One zone, unit or junction maximum in `DerivedSeries` (`scopeStates`), found by index: a
/// member station keeps the indices of its scopes (`StationState.scopeIDs`), so a member's
/// value notes its scopes without hashing their names.
struct ScopeState {
    let ref: ScopeRef
    /// The scope's series, one per metric of `ref.kind.outputMetrics` in that order (validated once).
    let names: [SeriesName]
    /// The newest time computed (nil until seeded from storage, at the scope's first member
    /// value since the start: `DerivedSeries.seedScope`).
    var newest: EpochMillis?
    /// The member value times noted this commit, computed at its end (unsorted, may repeat).
    var touched: [EpochMillis] = []
    /// Its members that have a value, by slot in their kind's `ScopeMaxima` (nil until the
    /// scope's first computation loads them).
    var active: [Int]?

    /// Nil when the scope's name makes no valid series name.
    init?(_ ref: ScopeRef) {
        var names: [SeriesName] = []
        for metric in ref.kind.outputMetrics {
            guard let name = try? SeriesName(sensor: ref.scope, metric: metric) else { return nil }
            names.append(name)
        }
        self.ref = ref
        self.names = names
    }
}

/// A value per scope kind (`ScopeKind`), without a dictionary.
struct PerScopeKind<T> {
    private var values: (T, T, T)

    init(_ value: T) { values = (value, value, value) }

    subscript(kind: ScopeKind) -> T {
        get {
            switch kind {
            case .fire: values.0
            case .flood: values.1
            case .junction: values.2
            }
        }
        // In place (a get and a set would copy a `ScopeMaxima` and its arrays at every change).
        _modify {
            switch kind {
            case .fire: yield &values.0
            case .flood: yield &values.1
            case .junction: yield &values.2
            }
        }
    }
}

extension PerScopeKind: Sendable where T: Sendable {}

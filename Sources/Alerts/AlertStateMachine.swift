import Telemetry

/// The life of one alert (one rule, one subject), as a plain state machine:
///
///     inactive --holds--> pending --held for `for`--> firing --clears--> resolved
///         ^                  |                                              |
///         +---no longer holds+                         holds again: pending/firing
///
/// `for: 0` fires at once. `clears` is the rule's `clear` condition, or "no longer holds";
/// a separate clear condition gives hysteresis. Time is passed in, never read.
public struct AlertStateMachine: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case inactive
        case pending(since: EpochMillis)
        case firing(since: EpochMillis)
        case resolved(at: EpochMillis)

        public var name: String {
            switch self {
            case .inactive: "inactive"
            case .pending: "pending"
            case .firing: "firing"
            case .resolved: "resolved"
            }
        }

        public var isLive: Bool {
            switch self {
            case .pending, .firing: true
            default: false
            }
        }
    }

    /// What the caller must do after an event.
    public enum Action: Sendable, Equatable {
        case none
        /// A new alert is pending (record it; do not notify yet).
        case pending
        /// The alert fires: record and notify.
        case fire
        /// A pending alert went away before firing: forget it.
        case cancel
        /// A firing alert cleared: record and notify.
        case resolve
    }

    public private(set) var state: State = .inactive
    public let forMillis: Int64

    public init(forMillis: Int64, state: State = .inactive) {
        self.forMillis = forMillis
        self.state = state
    }

    /// A new observation: whether the firing condition holds, and whether the clear one does.
    public mutating func observe(holds: Bool, clears: Bool, at now: EpochMillis) -> Action {
        switch state {
        case .inactive, .resolved:
            guard holds else { return .none }
            if forMillis <= 0 {
                state = .firing(since: now)
                return .fire
            }
            state = .pending(since: now)
            return .pending
        case .pending(let since):
            guard holds else {
                state = .inactive
                return .cancel
            }
            if now - since >= forMillis {
                state = .firing(since: now)
                return .fire
            }
            return .none
        case .firing:
            guard clears else { return .none }
            state = .resolved(at: now)
            return .resolve
        }
    }

    /// Time passes with no new observation: a pending alert whose condition last held fires
    /// once `for` has elapsed.
    public mutating func tick(at now: EpochMillis, stillHolds: Bool) -> Action {
        guard case .pending(let since) = state else { return .none }
        guard stillHolds else { return .none }
        if now - since >= forMillis {
            state = .firing(since: now)
            return .fire
        }
        return .none
    }
}

import Telemetry

/// One alert as stored, shown over HTTP and published on MQTT.
public struct Alert: Sendable, Equatable {
    public var id: Int64?
    public var rule: String
    /// What the alert is about: the sensor id (or `sensor:metric` when the rule names no metric).
    public var subject: String
    public var severity: Severity
    /// pending | firing | resolved
    public var state: String
    public var since: EpochMillis
    public var value: Double?
    public var valueTime: EpochMillis?
    /// In the configured language (`SummaryLanguage`); `summaryEn` and `summaryVi` give both.
    public var summary: String
    /// The rule's English summary, and its Vietnamese one (nil: the rule has none).
    public var summaryEn: String?
    public var summaryVi: String?
    public var acknowledgedBy: String?
    public var acknowledgedAt: EpochMillis?
    public var note: String?
    /// Where the subject is (`AlertPlace`): its administrative unit and zone, when known.
    /// Alerts are grouped by rule and unit, or by a level the catalogue declares. Alerts
    /// stored before the 2025 reorganisation carry their former district here.
    public var unit: String?
    public var zone: String?

    public init(id: Int64? = nil, rule: String, subject: String, severity: Severity, state: String, since: EpochMillis,
                value: Double? = nil, valueTime: EpochMillis? = nil, summary: String = "") {
        self.id = id
        self.rule = rule
        self.subject = subject
        self.severity = severity
        self.state = state
        self.since = since
        self.value = value
        self.valueTime = valueTime
        self.summary = summary
    }

    /// `alerts/<severity>/<rule>/<subject>`
    public var topic: String { "alerts/\(severity.rawValue)/\(rule)/\(subject)" }
}

/// A state change the engine decided, for the caller to store and announce.
public struct AlertEvent: Sendable, Equatable {
    public var action: AlertStateMachine.Action
    public var alert: Alert
    /// Set when a live alert's severity moved with its value (`Rule.severityByValue`): the
    /// severity it had. On a `.fire` event (it was firing) its old MQTT topic is cleared and
    /// the alert announced again; on a `.pending` one it is only stored. A rise also clears
    /// its acknowledgement.
    public var previousSeverity: Severity?

    /// Whether the stored acknowledgement goes: the severity rose, so the alert needs
    /// someone to look again.
    public var clearsAcknowledgement: Bool

    public init(action: AlertStateMachine.Action, alert: Alert, previousSeverity: Severity? = nil) {
        self.action = action
        self.alert = alert
        self.previousSeverity = previousSeverity
        clearsAcknowledgement = previousSeverity.map { alert.severity > $0 } ?? false
    }

    /// A live alert's severity rose (`previousSeverity`): it needs attention again.
    public var isEscalation: Bool { previousSeverity.map { alert.severity > $0 } ?? false }
}

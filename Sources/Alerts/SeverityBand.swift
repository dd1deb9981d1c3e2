/// A value band's severity: values at least `atLeast` (up to the next band's bound).
public struct SeverityBand: Sendable, Equatable {
    /// Where the band starts (values at least this).
    public var atLeast: Double
    /// The severity of an alert whose value is in the band.
    public var severity: Severity

    public init(atLeast: Double, severity: Severity) {
        self.atLeast = atLeast
        self.severity = severity
    }
}

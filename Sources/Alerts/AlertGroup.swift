import Telemetry

/// The live alerts that share their labels' values.
public struct AlertGroup: Sendable, Equatable {
    /// The grouping labels and this group's value of each (nil: the alerts have none).
    public var labels: [(label: AlertGroupLabel, value: String?)]
    /// Its members, worst first, then newest.
    public var alerts: [Alert]

    /// The worst severity of its members.
    public var severity: Severity { alerts.map(\.severity).max() ?? .info }
    /// How many of its members fire, and how many are pending.
    public var firing: Int { alerts.count { $0.state == "firing" } }
    public var pending: Int { alerts.count { $0.state == "pending" } }
    /// How many of its stored members wait for an acknowledgement (the collector's own
    /// alerts have no id and cannot be acknowledged).
    public var unacknowledged: Int { alerts.count { $0.acknowledgedBy == nil && $0.id != nil } }
    /// When its oldest member started.
    public var since: EpochMillis { alerts.map(\.since).min() ?? 0 }

    public static func == (a: AlertGroup, b: AlertGroup) -> Bool {
        a.alerts == b.alerts && a.labels.map(\.label) == b.labels.map(\.label) && a.labels.map(\.value) == b.labels.map(\.value)
    }

    /// Groups `alerts` by `labels`: the worst first (severity, then how many fire, then how
    /// many there are), then by their labels' values, so the order is stable.
    public static func group(_ alerts: [Alert], by labels: [AlertGroupLabel], in catalogue: Catalogue) -> [AlertGroup] {
        var groups: [[String?]: [Alert]] = [:]
        for a in alerts { groups[labels.map { $0.value(of: a, in: catalogue) }, default: []].append(a) }
        return groups.map { key, members in
            AlertGroup(labels: Array(zip(labels, key)).map { (label: $0.0, value: $0.1) },
                       alerts: members.sorted { ($0.severity, $0.since) > ($1.severity, $1.since) })
        }.sorted { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            if a.firing != b.firing { return a.firing > b.firing }
            if a.alerts.count != b.alerts.count { return a.alerts.count > b.alerts.count }
            return a.labels.map { $0.value ?? "" }.lexicographicallyPrecedes(b.labels.map { $0.value ?? "" })
        }
    }

    /// Whether `a` belongs to the group given by `selector`'s label values (a label left out
    /// is not looked at; a nil value matches alerts without that label).
    public static func member(_ a: Alert, of selector: [(label: AlertGroupLabel, value: String?)], in catalogue: Catalogue) -> Bool {
        selector.allSatisfy { $0.label.value(of: a, in: catalogue) == $0.value }
    }
}

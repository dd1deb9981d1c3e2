/// A subscription topic with placeholders, e.g. `telemetry/{unit}/{kind}/{sensor}`:
/// each `{name}` is one whole topic level. The broker is subscribed with `+` in their place,
/// and each message's topic fills them in, as Telegraf's topic parsing does.
///
/// `{sensor}` gives the sensor id when the payload names none (instead of the topic's last
/// segment); `{unit}` (or `{district}`, as gateways set up before the 2025 reorganisation
/// name it) and `{kind}` label series first seen on such topics.
public struct TopicPattern: Sendable, Equatable {
    /// Placeholder names the collector uses.
    public static let names: Set<String> = ["sensor", "unit", "district", "kind"]

    /// The placeholders that give the place label (one per pattern).
    static let placeNames: Set<String> = ["unit", "district"]

    /// The MQTT filter to subscribe with.
    public let filter: String
    /// (level index, placeholder name).
    private let slots: [(Int, String)]

    public static func == (a: TopicPattern, b: TopicPattern) -> Bool {
        a.filter == b.filter && a.slots.map(\.0) == b.slots.map(\.0) && a.slots.map(\.1) == b.slots.map(\.1)
    }

    /// Parses a topic; nil message on success, else what is wrong.
    public init(_ topic: String) throws(TopicPatternError) {
        var levels: [String] = []
        var slots: [(Int, String)] = []
        for (i, level) in topic.split(separator: "/", omittingEmptySubsequences: false).enumerated() {
            if level.hasPrefix("{") && level.hasSuffix("}") && level.count > 2 {
                let name = String(level.dropFirst().dropLast())
                guard Self.names.contains(name) else {
                    throw TopicPatternError(message: "unknown placeholder {\(name)} (use {sensor}, {unit}, {district} or {kind})")
                }
                guard !slots.contains(where: { $0.1 == name }) else {
                    throw TopicPatternError(message: "placeholder {\(name)} appears twice")
                }
                guard !(Self.placeNames.contains(name) && slots.contains(where: { Self.placeNames.contains($0.1) })) else {
                    throw TopicPatternError(message: "{unit} and {district} both give the place; use one")
                }
                slots.append((i, name))
                levels.append("+")
            } else {
                guard !level.contains("{") && !level.contains("}") else {
                    throw TopicPatternError(message: "a placeholder must be a whole topic level, not '\(level)'")
                }
                levels.append(String(level))
            }
        }
        filter = levels.joined(separator: "/")
        self.slots = slots
    }

    /// True when the pattern has placeholders.
    public var hasPlaceholders: Bool { !slots.isEmpty }

    /// The placeholder values of a topic this pattern's filter matched; an empty level gives none.
    public func values(in topic: String) -> TopicLabels {
        guard !slots.isEmpty else { return TopicLabels() }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        var out = TopicLabels()
        // An empty level (MQTT's `+` matches one) gives no value rather than an empty one.
        for (i, name) in slots where i < levels.count && !levels[i].isEmpty {
            let v = String(levels[i])
            switch name {
            case "sensor": out.sensor = v
            case "unit", "district": out.unit = v
            default: out.kind = v
            }
        }
        return out
    }
}

/// What a topic pattern read from a message's topic.
public struct TopicLabels: Sendable, Equatable {
    public var sensor: String?
    /// The place level (`{unit}` or `{district}`).
    public var unit: String?
    public var kind: String?
    public init(sensor: String? = nil, unit: String? = nil, kind: String? = nil) {
        self.sensor = sensor
        self.unit = unit
        self.kind = kind
    }
}

public struct TopicPatternError: Error, Sendable {
    public let message: String
}

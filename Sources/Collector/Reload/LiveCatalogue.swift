import Alerts
import Synchronization
import Telemetry

/// The catalogue and rules in force, replaced as a whole on SIGHUP. HTTP handlers and
/// notifiers read `current` per use; the ingest thread gets its copy through `IngestLoop.reload`.
final class LiveCatalogue: Sendable {
    private let state: Mutex<(catalogue: Catalogue, rules: [Rule])>

    init(_ catalogue: Catalogue, rules: [Rule]) { state = Mutex((catalogue, rules)) }

    var current: Catalogue { state.withLock { $0.catalogue } }
    var rules: [Rule] { state.withLock { $0.rules } }

    func replace(_ catalogue: Catalogue, rules: [Rule]) { state.withLock { $0 = (catalogue, rules) } }
}

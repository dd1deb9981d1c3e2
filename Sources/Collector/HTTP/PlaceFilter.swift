import Telemetry

/// The place parameters of a query: `unit=<id>` and `<level>=<id>` for each level the
/// catalogue declares (`district=tam-duong`; in a catalogue without a `district` level,
/// `district` means the unit). Every one given must hold.
struct PlaceFilter {
    private let terms: [(level: String, id: String)]
    private let catalogue: Catalogue

    init(_ q: QueryParameters, catalogue: Catalogue) {
        var terms: [(String, String)] = []
        for name in [Catalogue.unitLevel, "district"] + catalogue.levels.map(\.id) where !terms.contains(where: { $0.0 == name }) {
            guard let id = q.string(name), let level = catalogue.level(named: name) else { continue }
            terms.append((level, id))
        }
        self.terms = terms
        self.catalogue = catalogue
    }

    var isEmpty: Bool { terms.isEmpty }

    /// Whether something in `unit` (nil: no place known) passes.
    func matches(_ unit: String?) -> Bool {
        terms.allSatisfy { t in unit.flatMap { catalogue.place($0, at: t.level) } == t.id }
    }

    /// The parameters as given, for echoing (`[("district", "tam-duong")]`).
    var given: [(String, String)] { terms.map { ($0.level, $0.id) } }
}

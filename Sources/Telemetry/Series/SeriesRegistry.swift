/// Maps series names to dense ids. Loaded from storage at start; new names get the next id
/// at once and are written with the next commit (`unsaved`).
public struct SeriesRegistry: Sendable {
    private var ids: [SeriesName: SeriesID] = [:]
    public private(set) var names: [SeriesName] = []
    /// Ids handed out since the last successful commit.
    public private(set) var unsaved: [SeriesID] = []
    /// The most series this registry will hold (`limits.max_series`).
    public let limit: Int

    public init(limit: Int) { self.limit = limit }

    public var count: Int { names.count }

    /// The id of `name`, if it is known.
    public func id(of name: SeriesName) -> SeriesID? { ids[name] }

    public func name(of id: SeriesID) -> SeriesName { names[id.index] }

    /// How many of `names` are not yet registered (for an all-or-nothing check).
    public func unknownCount(_ names: some Sequence<SeriesName>) -> Int {
        var seen = Set<SeriesName>()
        for n in names where ids[n] == nil { seen.insert(n) }
        return seen.count
    }

    /// The id of `name`, registering it if new; nil when `limit` (by default the registry's) is reached.
    public mutating func intern(_ name: SeriesName, limit: Int? = nil) -> SeriesID? {
        if let id = ids[name] { return id }
        guard names.count < limit ?? self.limit else { return nil }
        let id = SeriesID(Int32(names.count))
        ids[name] = id
        names.append(name)
        unsaved.append(id)
        return id
    }

    /// Registers a series loaded from storage (ids must come in order 0, 1, 2 ...).
    mutating func load(_ name: SeriesName, id: SeriesID) {
        precondition(id.index == names.count, "series ids in storage are not dense")
        ids[name] = id
        names.append(name)
    }

    mutating func markSaved() { unsaved.removeAll(keepingCapacity: true) }
}

import Telemetry

/// One transformer's meters and energy tracker (`DerivedSeries.energyLoss`).
struct TransformerState {
    let id: String
    let feeder: EnergyLossTracker.Meter
    let customers: [EnergyLossTracker.Meter]
    var tracker: EnergyLossTracker?
    /// The time the tracker was rebuilt from storage from: an older reading (a late one fed
    /// again after a restart) first has its hour's stored readings added.
    var seededFrom: EpochMillis?
}

import Telemetry

/// The fencing tokens alert changes are written under, with partitions over a shared store
/// (`PostgresAlertStore`): a partition's alerts under its lease's token, the province-wide
/// scopes' under the province lease's. Each token is checked in the change's transaction
/// (`PartitionFence`), as a commit of readings checks its own: a holder fenced out (paused
/// past its lease while another took over) stores nothing over the new holder's alerts.
public struct AlertFence: Sendable, Equatable {
    /// The partition's lease, nil when this collector does not hold it.
    public var partition: PostgresStore.Fence?
    /// The province lease, nil when this collector does not hold it.
    public var province: PostgresStore.Fence?

    public init(partition: PostgresStore.Fence?, province: PostgresStore.Fence?) {
        self.partition = partition
        self.province = province
    }

    /// A change of alerts whose lease this collector does not hold: nothing was written.
    public struct NotHolder: Error, CustomStringConvertible {
        public let owner: String
        public var description: String { "not the holder of \(owner)'s lease: its alert changes are not stored" }
    }
}

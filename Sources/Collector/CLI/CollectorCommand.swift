import ArgumentParser

/// `collector`: the telemetry collector's command line (README).
/// Exit codes: 0 ok; 1 runtime failure; 2 usage or configuration error.
@main
struct CollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collector",
        abstract: "Telemetry collector for smart infrastructure: MQTT in, exact rollups out.",
        subcommands: [RunCommand.self, ServeCommand.self, CheckCommand.self, QueryCommand.self, ImportCommand.self, VerifyCommand.self, MigrateCommand.self, SimulateCommand.self]
    )
}

import Foundation
import Testing

/// A database file the collector cannot use stops it with a clear error and exit 1; it is
/// never replaced by an empty one.
@Suite struct StartupTests {
    @Test func corruptDatabaseIsAClearErrorNotAnEmptyStart() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        let noBroker = try ReservedPort()   // reserved, and nothing listens there
        defer { withExtendedLifetime(noBroker) {} }
        let junk = Data(repeating: 0x5A, count: 16_384)
        try junk.write(to: URL(fileURLWithPath: dir + "/data/collector.sqlite"))
        let c = try CollectorProcess(dir: dir, brokerPort: noBroker.port, clientID: "it-corrupt")
        try c.start()
        try await waitUntil("the collector to give up", seconds: 20) { !c.isRunning }
        #expect(c.exitStatus == 1)
        #expect(c.log().contains("cannot open storage"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/data/collector.sqlite")) == junk)
    }
}

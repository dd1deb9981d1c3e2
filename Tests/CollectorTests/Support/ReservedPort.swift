import Foundation

/// A loopback TCP port for a server the tests start but do not write (mosquitto, Prometheus,
/// Alertmanager), reserved without a race.
///
/// Binding port 0, closing and handing the number on is racy: before the server binds it,
/// any outgoing connection on the machine can get that number as its ephemeral port. So the
/// ports come from below the kernel's ephemeral range (`ip_local_port_range`), which no
/// outgoing connection is given, and each is reserved with an `flock` on a file in a shared
/// directory, which every test process (and `scripts/lib.sh`) honours. A reservation lasts
/// until the object is released. (Our own collector needs none of this: it listens on port
/// 0 and reports the port it got.)
final class ReservedPort: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    /// The shared directory of lock files, one per reserved port.
    static let lockDirectory = "/tmp/collector-test-ports"

    /// Reserves a port nobody listens on and no other test process holds.
    init() throws {
        let (low, high) = try Self.range()
        try FileManager.default.createDirectory(atPath: Self.lockDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o1777])
        let span = high - low + 1
        let start = Int.random(in: 0..<span)
        for i in 0..<span {
            let port = low + (start + i) % span
            let fd = open("\(Self.lockDirectory)/\(port).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
            guard fd >= 0 else { continue }
            // Held by another test (this process or another): try the next one.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); continue }
            // Reserved among tests; a service of the machine's own may still listen there.
            guard !Self.somethingListens(on: port) else { close(fd); continue }
            self.port = port
            self.fd = fd
            return
        }
        throw HarnessError("no free port in \(low)...\(high)")
    }

    deinit { close(fd) }

    /// The ports below the ephemeral range this harness uses: up to 8,000 of them, from 10,000 up.
    static func range() throws -> (Int, Int) {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? "32768 60999"
        let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard let ephemeralLow = bounds.first, ephemeralLow > 10_001 else {
            throw HarnessError("ip_local_port_range starts at \(bounds.first ?? 0): no ports below it to reserve for test servers")
        }
        return (max(10_000, ephemeralLow - 8_000), ephemeralLow - 1)
    }

    /// Whether a server already listens on `port` (a TCP connect to it succeeds). Only ports
    /// outside the ephemeral range are probed, so the probe cannot take one from anybody.
    static func somethingListens(on port: Int) -> Bool { canConnect(port: port) }
}

import Foundation

/// A PostgreSQL primary and a synchronous streaming replica of the test's own on loopback
/// (Debian's postgresql-15), each in its own data directory under `dir/pg`. PostgreSQL will not
/// run as root: as root, every server command runs as the `postgres` user (`runuser`), which
/// gets the directory. Sockets stay in that directory; TCP on reserved ports; trust auth for
/// the role `collector` on loopback only.
final class PostgresCluster: @unchecked Sendable {
    let dir: String
    let primaryPort: ReservedPort
    let replicaPort: ReservedPort
    /// The server's programs (initdb, pg_ctl, pg_basebackup), where `pg_config` says.
    private static let bin: String = {
        guard let pgConfig = try? which("pg_config"), let r = try? runCapturing(pgConfig, ["--bindir"]), r.status == 0 else {
            return "/usr/lib/postgresql/15/bin"
        }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    var primaryData: String { dir + "/primary" }
    var replicaData: String { dir + "/replica" }

    /// Both servers by a multi-host URL: libpq takes the one that accepts writes.
    var url: String {
        "postgresql://collector@127.0.0.1:\(primaryPort.port),127.0.0.1:\(replicaPort.port)/postgres?target_session_attrs=read-write&connect_timeout=3"
    }

    init(dir parent: String) throws {
        dir = parent + "/pg"
        primaryPort = try ReservedPort()
        replicaPort = try ReservedPort()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if getuid() == 0 {
            chmod(parent, 0o711)   // the postgres user must reach its directory
            try run("chown", ["postgres:postgres", dir])
        }
        try run(Self.bin + "/initdb", ["-D", primaryData, "-A", "trust", "-U", "collector", "--no-sync"], asPostgres: true)
        let conf = """
            listen_addresses = '127.0.0.1'
            port = \(primaryPort.port)
            unix_socket_directories = '\(dir)'
            wal_level = replica
            max_wal_senders = 4
            synchronous_standby_names = 'replica1'
            synchronous_commit = remote_apply
            """
        try append(conf, to: primaryData + "/postgresql.conf")
        try pgCtl(primaryData, "start")
        try run(Self.bin + "/pg_basebackup", ["-h", "127.0.0.1", "-p", String(primaryPort.port), "-U", "collector",
                                               "-D", replicaData, "-R", "--no-sync"], asPostgres: true)
        try append("""
            port = \(replicaPort.port)
            primary_conninfo = 'host=127.0.0.1 port=\(primaryPort.port) user=collector application_name=replica1'
            """, to: replicaData + "/postgresql.auto.conf")
        try pgCtl(replicaData, "start")
    }

    /// A temporary directory with a primary and a synchronous replica in it, the replica
    /// streaming; the caller stops both and removes the directory.
    static func started() async throws -> (dir: String, pg: PostgresCluster) {
        let dir = try makeTempDir()
        let pg = try PostgresCluster(dir: dir)
        try await pg.waitSynchronous()
        return (dir, pg)
    }

    /// Stops both servers and removes the directory `started` made.
    func remove(_ dir: String) {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Waits until the replica streams and is the synchronous one.
    func waitSynchronous() async throws {
        try await waitUntil("the replica streaming synchronously", seconds: 30) {
            (try? self.psql(self.primaryPort.port, "SELECT sync_state FROM pg_stat_replication")) == "sync"
        }
    }

    /// SIGKILL to the primary's postmaster and every process it started (a machine lost: a
    /// killed postmaster alone leaves its backends answering until they notice).
    func killPrimary() throws {
        let pidText = try String(contentsOfFile: primaryData + "/postmaster.pid", encoding: .utf8)
        guard let pid = Int32(pidText.split(separator: "\n").first ?? "") else { throw HarnessError("no primary pid") }
        // Its children, found before the kill (they are handed to init once it is gone).
        let children = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
        }
        kill(pid, SIGKILL)
        for child in children { kill(child, SIGKILL) }
    }

    /// Makes the replica a primary (pg_ctl promote, waiting until it accepts writes). It
    /// inherited `synchronous_standby_names`: with no standby of its own left, its commits would
    /// wait for one forever, so the promotion also drops that requirement (the operator's
    /// choice after a failover: attach a new standby, or accept the risk for a while).
    func promoteReplica() throws {
        try pgCtl(replicaData, "promote")
        _ = try psql(replicaPort.port, "ALTER SYSTEM SET synchronous_standby_names = ''")
        _ = try psql(replicaPort.port, "SELECT pg_reload_conf()")
    }

    /// One value from `psql` on `port` (as the role collector, over TCP).
    func psql(_ port: Int, _ sql: String) throws -> String {
        try run("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "collector", "-d", "postgres", "-At", "-c", sql])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts both servers again after `stop()` (the replica streams again once it has).
    func restart() throws {
        try pgCtl(primaryData, "start")
        try pgCtl(replicaData, "start")
    }

    func stop() {
        for data in [replicaData, primaryData] {
            _ = try? run(Self.bin + "/pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], asPostgres: true)
        }
    }

    deinit { stop() }

    private func pgCtl(_ data: String, _ action: String) throws {
        try run(Self.bin + "/pg_ctl", ["-D", data, "-l", data + ".log", "-w", "-t", "60", action], asPostgres: true)
    }

    private func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n" + text + "\n").utf8))
    }

    /// Runs a command to completion (as `postgres` when we are root and `asPostgres`); its output.
    @discardableResult
    private func run(_ tool: String, _ args: [String], asPostgres: Bool = false) throws -> String {
        if asPostgres && getuid() == 0 {
            return try CollectorTests.run("runuser", ["-u", "postgres", "--", tool] + args, in: dir, seconds: 90)
        }
        return try CollectorTests.run(tool, args, in: dir, seconds: 90)
    }
}

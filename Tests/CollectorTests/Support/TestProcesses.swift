import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Errors from the test harness itself, with what it was waiting for.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` every 50 ms until it holds. Under CI (`CI` set), where every suite runs at once on a
/// clean clone's busy machine, the limit is three times longer: conditions are exact, so a
/// longer wait only changes how long a real failure takes to report. The condition is
/// checked once more after the limit: a task that got no thread for the whole wait (every
/// thread busy with other tests) still sees a condition that came true meanwhile.
func waitUntil(_ what: String, seconds: Double, _ condition: () async throws -> Bool) async throws {
    let limit = seconds * ciWaitFactor
    let deadline = Date().addingTimeInterval(limit)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    if try await condition() { return }
    throw HarnessError("timed out after \(limit) s waiting for \(what)")
}

/// How much longer every bounded wait may take under CI (`CI` set; see `waitUntil`).
let ciWaitFactor: Double = ProcessInfo.processInfo.environment["CI"] == nil ? 1 : 3

/// The package root, found from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
}()

/// The `collector` binary that `make test` builds before the tests.
var collectorBinary: String {
    ProcessInfo.processInfo.environment["COLLECTOR_BIN"] ?? packageRoot + "/.build/debug/collector"
}

/// `collectorBinary`, refused when it is missing or older than a file compiled into it (Swift,
/// C, the embedded dashboard): `swift test` builds the test targets, not the executable the integration tests
/// start, so without this check a stale daemon would be tested. `make test` builds it first.
func checkedCollectorBinary() throws -> String {
    if let problem = binaryProblem { throw HarnessError(problem) }
    return collectorBinary
}

/// Why `collectorBinary` cannot be tested (nil: it is as new as every source). Checked once.
private let binaryProblem: String? = {
    let fm = FileManager.default
    let binary = collectorBinary
    guard let built = (try? fm.attributesOfItem(atPath: binary))?[.modificationDate] as? Date else {
        return "\(binary) is missing: run `swift build --product collector` (make test does) before `swift test`"
    }
    var newest: (path: String, date: Date)?
    // Only files a build compiles: a changed doc beside them does not relink the binary.
    var paths: [String] = []
    let sources = packageRoot + "/Sources"
    for case let rel as String in fm.enumerator(atPath: sources) ?? FileManager.DirectoryEnumerator()
    where [".swift", ".h", ".c", ".modulemap", ".html"].contains(where: rel.hasSuffix) {
        paths.append(sources + "/" + rel)
    }
    for path in paths {
        guard let date = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { continue }
        if date > newest?.date ?? .distantPast { newest = (path, date) }
    }
    guard let newest, newest.date > built else { return nil }
    return "\(binary) is older than \(newest.path): run `swift build --product collector` (make test does) before `swift test`"
}()

/// A mosquitto broker of the test's own, on a free loopback port. `listener` replaces the
/// plain listener block (for TLS or passwords); `persistent` keeps sessions across restarts.
final class MosquittoBroker: @unchecked Sendable {
    /// Kept for the broker's life, so a restart listens on the same port.
    private let reservation: ReservedPort
    var port: Int { reservation.port }
    let dir: String
    private var process: SpawnedProcess?
    /// mosquitto_pub/sub options for this broker's listener (TLS, credentials).
    var clientOptions: [String] = []

    init(dir: String, persistent: Bool = false, listener: ((Int) -> String)? = nil) throws {
        self.dir = dir
        reservation = try ReservedPort()
        let port = reservation.port
        let listenerBlock = listener?(port) ?? "listener \(port) 127.0.0.1\nallow_anonymous true"
        let conf = """
            \(listenerBlock)
            persistence \(persistent ? "true" : "false")
            persistence_location \(dir)/
            max_queued_messages 1000000
            max_inflight_messages 0
            user \(NSUserName())
            """
        try conf.write(toFile: dir + "/mosquitto.conf", atomically: true, encoding: .utf8)
        try start()
    }

    func start() throws {
        process = try SpawnedProcess(try which("mosquitto"), ["-c", dir + "/mosquitto.conf"], logPath: dir + "/mosquitto.log")
    }

    func waitReady() async throws {
        try await waitUntil("mosquitto on port \(port)", seconds: 10) { canConnect(port: port) }
    }

    /// Stops the broker (SIGTERM: it saves its persistence file) and starts it again.
    func restart() async throws {
        stop()
        try start()
        try await waitReady()
    }

    /// Publishes each line as one message with mosquitto_pub (QoS 1 by default).
    func publish(topic: String, lines: [String], qos: Int = 1) throws {
        try mosquittoPub(["-t", topic, "-q", String(qos), "-l"], stdin: lines.joined(separator: "\n") + "\n", seconds: 60)
    }

    /// Publishes one message whose payload may hold newlines (a multi-line batch).
    func publishOne(topic: String, payload: String, qos: Int = 1) throws {
        try mosquittoPub(["-t", topic, "-q", String(qos), "-s"], stdin: payload, seconds: 30)
    }

    /// Publishes one message with exactly these bytes (invalid UTF-8, megabytes): from a file.
    func publishFile(topic: String, payload: [UInt8], qos: Int = 1) throws {
        let path = dir + "/payload-\(UUID().uuidString)"
        try Data(payload).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try mosquittoPub(["-t", topic, "-q", String(qos), payload.isEmpty ? "-n" : "-f", payload.isEmpty ? "" : path].filter { !$0.isEmpty },
                         stdin: "", seconds: 30)
    }

    private func mosquittoPub(_ args: [String], stdin: String, seconds: Double) throws {
        try runMosquittoPub(port: port, args + clientOptions, stdin: stdin, seconds: seconds, dir: dir)
    }

    /// Reads one message from `topic` (retained ones included), waiting at most `seconds`.
    /// (Spawned with a clean signal mask: mosquitto_sub's -W timer needs SIGALRM.)
    func readOne(topic: String, seconds: Int = 3) throws -> String? {
        let outPath = dir + "/sub-\(UUID().uuidString).out"
        let p = try SpawnedProcess(try which("mosquitto_sub"),
                                   ["-h", "127.0.0.1", "-p", String(port), "-t", topic, "-C", "1", "-W", String(seconds)] + clientOptions,
                                   logPath: outPath)
        let deadline = Date().addingTimeInterval(Double(seconds) + 5)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { p.stop(); throw HarnessError("mosquitto_sub did not exit") }
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outPath)
        return p.exitCode == 0 ? text.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// Starts `mosquitto_sub -v` on `topic` (it exits after `count` messages or `seconds`) and
    /// returns once the broker has acknowledged the subscription (its SUBACK, printed by -d;
    /// `stdbuf -oL` so the line reaches the file at once), so nothing published afterwards is
    /// missed. Read what it got with `messages(outPath)`.
    func subscribe(_ topic: String, count: Int = 1, seconds: Int = 20, outPath: String) async throws -> SpawnedProcess {
        let p = try SpawnedProcess(try which("stdbuf"),
                                   ["-oL", try which("mosquitto_sub"), "-h", "127.0.0.1", "-p", String(port), "-t", topic, "-v", "-d",
                                    "-C", String(count), "-W", String(seconds)] + clientOptions,
                                   logPath: outPath)
        try await waitUntil("mosquitto_sub's SUBACK on \(topic)", seconds: 10) {
            ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").contains("received SUBACK")
        }
        return p
    }

    /// The messages (`topic payload` lines) a `subscribe` wrote, without its -d lines.
    static func messages(_ outPath: String) -> [String] {
        ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("Client ") && !$0.hasPrefix("Subscribed (") }
    }

    func stop() {
        process?.stop()
        process = nil
    }

    deinit { stop() }
}

/// Runs `mosquitto_pub -h 127.0.0.1 -p PORT ARGS` with `stdin` as its input, to completion
/// (at most `seconds`); throws with its output when it fails.
func runMosquittoPub(port: Int, _ args: [String], stdin: String, seconds: Double, dir: String) throws {
    try run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port)] + args, in: dir, seconds: seconds, stdin: stdin)
}

/// The collector daemon as a child process, with its own config and SQLite file. It listens
/// on `127.0.0.1:0` and writes the port it got to `portPath` (`run --port-file`): no port is
/// chosen before the daemon binds it, so none can be taken in between.
final class CollectorProcess: @unchecked Sendable {
    let configPath: String
    /// Where the running daemon writes its HTTP port.
    let portPath: String
    private var listeningPort: Int?
    let logPath: String
    private var process: SpawnedProcess?

    /// `mqttExtra` lines go under `mqtt:` (indented by two spaces); `url` overrides the broker URL,
    /// `urls` replaces it with the nodes of a cluster.
    /// Without a `sensors:` line in `extraYAML` the daemon watches the shipped Lai Châu catalogue.
    init(dir: String, brokerPort: Int, clientID: String = "it-collector", url: String? = nil, urls: [String]? = nil,
         mqttExtra: [String] = [], subscriptions: [String] = ["{topic: \"telemetry/#\"}"], httpExtra: [String] = [],
         storageExtra: [String] = [], extraYAML: String = "") throws {
        configPath = dir + "/collector.yaml"
        portPath = dir + "/collector.port"
        logPath = try touch(dir + "/collector.log")
        let extra = mqttExtra.map { "\n  " + $0 }.joined()
        let subs = subscriptions.map { "\n    - " + $0 }.joined()
        let yaml = """
            mqtt:
              \(urls.map { "urls: [\($0.joined(separator: ", "))]" } ?? "url: \(url ?? "mqtt://127.0.0.1:\(brokerPort)")")
              client_id: \(clientID)\(extra)
              subscriptions:\(subs)
            http:
              listen: 127.0.0.1:0\(httpExtra.map { "\n  " + $0 }.joined())
            storage:
              path: \(dir)/data/collector.sqlite
              accept_age: 36500d\(storageExtra.map { "\n  " + $0 }.joined())
            timezone: Asia/Ho_Chi_Minh
            \(extraYAML.contains("sensors:") ? "" : "sensors: \(packageRoot)/sensors/lai-chau")
            \(extraYAML)
            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// The port the running daemon listens on (read from its port file; a start that has not
    /// listened yet has none: wait with `waitListening()` or `waitReady()` first).
    var httpPort: Int {
        if let listeningPort { return listeningPort }
        guard let text = try? String(contentsOfFile: portPath, encoding: .utf8),
              let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return 0 }
        listeningPort = port
        return port
    }

    var baseURL: String { "http://127.0.0.1:\(httpPort)" }

    /// Starts the daemon; `environment` is added to the test runner's. `wrapper`: a command
    /// that execs the daemon (e.g. `prlimit --nofile=150:150`), same process.
    func start(environment: [String: String] = [:], wrapper: [String] = []) throws {
        listeningPort = nil
        unlink(portPath)
        let args = ["run", "--config", configPath, "--port-file", portPath]
        if let tool = wrapper.first {
            process = try SpawnedProcess(try which(tool), Array(wrapper.dropFirst()) + [try checkedCollectorBinary()] + args,
                                         logPath: logPath, environment: environment)
        } else {
            process = try SpawnedProcess(try checkedCollectorBinary(), args, logPath: logPath, environment: environment)
        }
    }

    /// CPU seconds (user and system) the running daemon has used, from `/proc/<pid>/stat`.
    var cpuSeconds: Double? {
        guard let p = process, let stat = try? String(contentsOfFile: "/proc/\(p.pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        guard f.count > 13, let u = Double(f[11]), let s = Double(f[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Waits until the daemon listens on HTTP (its port file is written).
    func waitListening() async throws {
        try await waitUntil("collector port file", seconds: 20) {
            guard process?.isRunning == true else { throw HarnessError("collector exited early; log:\n\(log())") }
            return httpPort != 0
        }
    }

    /// Waits until `/readyz` answers 200 (MQTT connected, storage open).
    func waitReady() async throws {
        try await waitListening()
        try await waitUntil("collector /readyz", seconds: 20) {
            guard process?.isRunning == true else { throw HarnessError("collector exited early; log:\n\(log())") }
            return (try? await httpGet(baseURL + "/readyz").status) == 200
        }
    }

    /// SIGTERM, then waits; returns the exit status (-1: ended by a signal) and how long the
    /// stop took.
    func terminate() async throws -> (status: Int32, seconds: Double) {
        guard let p = process else { throw HarnessError("not running") }
        let started = Date()
        p.signal(SIGTERM)
        try await waitUntil("collector to exit after SIGTERM", seconds: 10) { !p.isRunning }
        process = nil
        return (p.exitCode ?? -1, Date().timeIntervalSince(started))
    }

    /// SIGKILL: no chance to commit, acknowledge or say goodbye.
    func kill() async throws {
        guard let p = process else { return }
        Foundation.kill(p.pid, SIGKILL)
        try await waitUntil("collector to die after SIGKILL", seconds: 10) { !p.isRunning }
        process = nil
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends a signal (SIGHUP: reload the catalogue and rules).
    func signal(_ s: Int32) {
        process?.signal(s)
    }

    var isRunning: Bool { process?.isRunning == true }

    /// Whether the daemon is stopped by a signal (SIGSTOP): state `T` in `/proc/<pid>/stat`.
    var isStopped: Bool {
        guard let p = process, p.isRunning,
              let stat = try? String(contentsOfFile: "/proc/\(p.pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("T")
    }
    /// The exit code of a daemon that exited by itself (-1: ended by a signal; nil: running).
    var exitStatus: Int32? { process.flatMap { $0.isRunning ? nil : $0.exitCode ?? -1 } }

    deinit {
        if let p = process, p.isRunning { Foundation.kill(p.pid, SIGKILL) }
    }
}

/// Runs `collector ARGS` to completion (at most `seconds`); its exit code and its output
/// (stdout and stderr together).
func collectorCLI(_ args: [String], dir: String, seconds: Double = 60) async throws -> (code: Int32?, out: String) {
    let log = dir + "/cli-\(UUID().uuidString).out"
    let p = try SpawnedProcess(try checkedCollectorBinary(), args, logPath: log)
    let deadline = Date().addingTimeInterval(seconds * ciWaitFactor)
    while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
    if p.isRunning { p.stop(); throw HarnessError("collector \(args.first ?? "") did not finish within \(seconds) s") }
    return (p.exitCode, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
}

/// `collector verify` on a stopped collector's store: every tier and derived series against
/// its recompute from the stored readings. Returns its output; records a test issue unless it
/// says OK with the derived series compared (not left for a next start).
@discardableResult
func verifyStore(configPath: String, dir: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
    let (code, out) = try await collectorCLI(["verify", "--config", configPath, "--from", "0", "--by-metric"], dir: dir, seconds: 120)
    #expect(code == 0 && out.contains("verify: OK") && out.contains("verify: derived: "), "collector verify:\n\(out)",
            sourceLocation: sourceLocation)
    return out
}

/// A plain HTTP GET over loopback.
func httpGet(_ url: String) async throws -> (status: Int, body: Data) {
    var req = URLRequest(url: URL(string: url)!)
    req.timeoutInterval = 10
    let (data, response) = try await URLSession.shared.data(for: req)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
}

func httpJSON(_ url: String) async throws -> [String: Any] {
    let (status, body) = try await httpGet(url)
    guard status == 200 else { throw HarnessError("GET \(url) -> \(status): \(String(decoding: body, as: UTF8.self))") }
    guard let o = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { throw HarnessError("not a JSON object") }
    return o
}

func which(_ tool: String) throws -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"] {
        let p = dir + "/" + tool
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    throw HarnessError("\(tool) is not installed (make deps installs it)")
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

@discardableResult
func touch(_ path: String) throws -> String {
    if !FileManager.default.fileExists(atPath: path) {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw HarnessError("cannot create \(path)") }
    }
    return path
}

/// Runs an executable (an absolute path) to completion: its exit status and its output
/// (standard output and error together), whatever the status.
func runCapturing(_ executable: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, out)
}

/// Runs a tool (a name on the PATH, or an absolute path) to completion in `dir`, with `stdin`
/// as its input if given, for at most `seconds`; its output. Throws with that output when it fails.
@discardableResult
func run(_ tool: String, _ args: [String], in dir: String, seconds: Double = 60, stdin: String? = nil) throws -> String {
    let outPath = NSTemporaryDirectory() + "collector-run-\(UUID().uuidString).out"
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    var inPath: String?
    if let stdin {
        inPath = NSTemporaryDirectory() + "collector-run-\(UUID().uuidString).in"
        try Data(stdin.utf8).write(to: URL(fileURLWithPath: inPath!))
    }
    defer { if let inPath { try? FileManager.default.removeItem(atPath: inPath) } }
    let p = try SpawnedProcess(tool.hasPrefix("/") ? tool : try which(tool), args, logPath: outPath, stdinPath: inPath ?? "/dev/null", directory: dir)
    let deadline = Date().addingTimeInterval(seconds * ciWaitFactor)
    while p.isRunning && Date() < deadline { usleep(5_000) }
    if p.isRunning { p.stop(); throw HarnessError("\(tool) did not exit within \(seconds) s") }
    let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    guard p.exitCode == 0 else { throw HarnessError("\(tool) \(args.joined(separator: " ")) failed (\(String(describing: p.waitStatus))): \(text)") }
    return text
}

/// A fresh temporary directory per test.
func makeTempDir() throws -> String {
    let path = NSTemporaryDirectory() + "collector-it-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Tokens for a viewer and an operator, as `http.tokens_file` lists them.
enum TestTokens {
    static let viewer = "viewer-token-0123456789"
    static let operatorToken = "operator-token-0123456789"
    static let writer = "writer-token-0123456789"
    static let admin = "admin-token-0123456789"

    /// Writes the tokens file, starts a broker and a collector using it (`extraYAML` below the
    /// generated config, e.g. `sensors:`), and waits until both are ready.
    static func startCollector(_ clientID: String, in dir: String, extraYAML: String = "") async throws
        -> (MosquittoBroker, CollectorProcess)
    {
        try """
            tokens:
              - {name: ops-screen, role: viewer, token: "\(viewer)"}
              - {name: duty-officer, role: operator, token: "\(operatorToken)"}
              - {name: gateway-lc, role: writer, token: "\(writer)"}
              - {name: root, role: admin, token: "\(admin)"}
            """.write(toFile: dir + "/tokens.yaml", atomically: true, encoding: .utf8)
        chmod(dir + "/tokens.yaml", 0o600)
        let broker = try MosquittoBroker(dir: dir)
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: clientID,
                                     httpExtra: ["tokens_file: \(dir)/tokens.yaml"], extraYAML: extraYAML)
        try c.start()
        try await c.waitReady()
        return (broker, c)
    }
}

import Foundation

/// A child started with `posix_spawn`, an empty signal mask, default signal handlers and no
/// inherited descriptor beyond stdin, stdout and stderr; its exit is found by `waitpid`.
///
/// Foundation's `Process` passes on the test runner's blocked signals (SIGTERM among them),
/// so a daemon that installs plain `signal()` handlers, such as mosquitto, would never see
/// SIGTERM and would outlive the test. And it learns that a child exited from a socket the
/// child holds: a server started at the same moment from another test's thread could inherit
/// that socket and hide the exit for as long as it runs (a collector "still running" 20 s
/// after it exited). So every long-lived child of the tests is started here, with every
/// descriptor above 2 closed. Output goes to `logPath` (appended); stdin is `stdinPath`
/// (default /dev/null; a FIFO the caller holds open feeds it commands); stderr goes to
/// `errorPath` (default: with stdout); `environment` is added to the test runner's.
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    private var exit: Int32?

    init(_ path: String, _ args: [String], logPath: String, environment: [String: String] = [:],
         stdinPath: String = "/dev/null", errorPath: String? = nil, directory: String? = nil) throws {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        if let directory, spawnChangeDirectory(&actions, directory) != 0 { throw HarnessError("cannot spawn in \(directory)") }
        guard spawnCloseFrom(&actions, 3) == 0 else { throw HarnessError("posix_spawn_file_actions_addclosefrom_np failed") }

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let env: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            .map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in env { free(e) } }
        let rc = posix_spawn(&child, path, &actions, &attr, argv, env)
        guard rc == 0 else { throw HarnessError("posix_spawn \(path) failed: \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Guards `exit`: the child is reaped once, whichever thread asks first.
    private let lock = NSLock()

    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exit != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { exit = status; return false }
        return r == 0
    }

    /// The raw wait status once it has exited (nil while running).
    var waitStatus: Int32? { isRunning ? nil : exit }

    /// The exit code once it has exited normally (nil while running or when killed by a signal).
    var exitCode: Int32? {
        guard !isRunning, let status = exit, status & 0x7F == 0 else { return nil }
        return (status >> 8) & 0xFF
    }

    func signal(_ s: Int32) { if isRunning { kill(pid, s) } }

    /// SIGTERM, up to `seconds` to exit, then SIGKILL: nothing outlives the test.
    func stop(seconds: Double = 5) {
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { usleep(5_000) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { usleep(5_000) }
        }
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)   // reaped: no zombie left behind
        }
    }
}

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later): the child's working
/// directory. (Declared only under `_GNU_SOURCE`, like the next one.)
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func spawnChangeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Debian 12 has 2.36):
/// the child closes every descriptor from `fd` up. Its header declares it only under
/// `_GNU_SOURCE`, so Swift's Glibc module does not show it.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ fd: Int32) -> Int32

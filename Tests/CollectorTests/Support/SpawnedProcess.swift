import Foundation

/// A child started with `posix_spawn`, an empty signal mask and default signal handlers.
///
/// Foundation's `Process` passes on the test runner's blocked signals (SIGTERM among them),
/// so a daemon that installs plain `signal()` handlers, such as mosquitto, would never see
/// SIGTERM and would outlive the test. Output goes to `logPath` (appended).
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    private var exit: Int32?

    init(_ path: String, _ args: [String], logPath: String) throws {
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
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attr, argv, environ)
        guard rc == 0 else { throw HarnessError("posix_spawn \(path) failed: \(String(cString: strerror(rc)))") }
        pid = child
    }

    var isRunning: Bool {
        if exit != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { exit = status; return false }
        return r == 0
    }

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

    deinit { if isRunning { kill(pid, SIGKILL); _ = isRunning } }
}

import Foundation

/// Wakes the ingest loop out of its `poll` from other threads (a stop, a reload, the alert
/// worker's derived readings): a non-blocking pipe; a byte written makes the read end readable.
final class WakePipe: Sendable {
    /// The end the loop polls.
    let readEnd: Int32
    private let writeEnd: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw StartupError("cannot create the wake-up pipe") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Makes the read end readable (from any thread; a full pipe is awake already).
    func wake() {
        var b: UInt8 = 1
        _ = write(writeEnd, &b, 1)
    }

    /// Waits up to `milliseconds` for a wake-up, and clears it.
    func wait(milliseconds: Int32) {
        var fds = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
        if poll(&fds, 1, milliseconds) > 0 { drain() }
    }

    /// Clears the wake-ups so far.
    func drain() {
        var buf = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &buf, buf.count) > 0 {}
    }
}

import Foundation

/// An exclusive hold on a store, so only one process writes it: the daemon, `collector
/// import` and `collector verify` each take it for as long as they run, and refuse to start
/// while another holds it. It is an `flock` on a file beside the database (`<path>.lock`,
/// created if missing and never deleted; symbolic links resolved first), so the kernel
/// releases it when the holder exits,
/// however it exits; a stale lock file is harmless.
public final class StoreLock: Sendable {
    /// Another process holds the store.
    public struct Held: Error, CustomStringConvertible {
        public let lockPath: String
        public var description: String { "another collector process (run, import or verify) holds the store (\(lockPath))" }
    }

    public let lockPath: String
    private let fd: Int32

    /// Takes the store at `databasePath`, or throws `Held` at once if another process has it.
    public init(databasePath: String) throws {
        // The same file reached through a symbolic link gets the same lock.
        lockPath = URL(fileURLWithPath: databasePath).resolvingSymlinksInPath().path + ".lock"
        let dir = (lockPath as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot open \(lockPath): \(String(cString: strerror(errno)))"])
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { throw Held(lockPath: lockPath) }
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot lock \(lockPath): \(String(cString: strerror(e)))"])
        }
        self.fd = fd
    }

    deinit { close(fd) }
}

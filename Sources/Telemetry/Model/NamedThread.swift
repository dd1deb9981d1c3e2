import Foundation

/// Starts the long-lived threads of the pipeline (ingest loop, alert worker, rollup merger,
/// WAL checkpointer, alert publisher) under a name the kernel knows, so `top -H`, `perf` and
/// `/proc/<pid>/task/*/comm` tell them apart.
public enum NamedThread {
    /// Runs `body` on a new thread named `name` (the kernel keeps 15 bytes). A `background`
    /// thread runs 10 nice levels below the process: when every core is busy, the scheduler
    /// serves the ingest and alert threads first, and background work waits (the merger then
    /// catches up in larger, cheaper merges).
    public static func start(_ name: String, background: Bool = false, _ body: @escaping @Sendable () -> Void) {
        let t = Thread {
            #if os(Linux)
            // Linux names a thread through its `comm` file; Foundation's `Thread.name` does not.
            try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
            // A thread's nice value is its own on Linux: `setpriority` on its thread id.
            if background, let tid = currentThreadID {
                let which = __priority_which_t(PRIO_PROCESS.rawValue)
                _ = setpriority(which, tid, min(getpriority(which, tid) + 10, 19))
            }
            #endif
            body()
        }
        t.name = name
        t.start()
    }

    #if os(Linux)
    /// The calling thread's kernel id, from /proc/thread-self ("<pid>/task/<tid>"; Glibc's
    /// `gettid` is not imported).
    static var currentThreadID: id_t? {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self") else { return nil }
        return id_t(link.split(separator: "/").last ?? "")
    }
    #endif
}
